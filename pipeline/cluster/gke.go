package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	container "google.golang.org/api/container/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"k8s.io/client-go/rest"

	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/hubconfig"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// gkeScopes are the v1.2 fork's: the GKE API, and the account's email, which GKE's
// RBAC names the user by.
var gkeScopes = []string{container.CloudPlatformScope, "https://www.googleapis.com/auth/userinfo.email"}

// gke is a GKE cluster reached with a service account key (0.3's service_key) or,
// without one, with the Application Default Credentials (the v1.2 fork's keyless way).
type gke struct {
	file, name string // hub's hubploy.yaml; projects/P/locations/Z/clusters/C
	block      *hubconfig.GcloudCluster
	keyFile    string // "" when keyless
	creds      *google.Credentials
	masker     *mask.Masker
	clouds     *cloud.APIs
}

const gkeKey = "cluster.gcloud"

func newGKE(h *repo.Hub, dec *secrets.Decrypter, clouds *cloud.APIs) (cloudProvider, []byte, error) {
	b := h.Config.Cluster.Gcloud
	if err := requireFields(h, gkeKey, "name the GKE cluster by project, zone (its location) and cluster",
		[2]string{"project", b.Project}, [2]string{"zone", b.Zone}, [2]string{"cluster", b.Cluster}); err != nil {
		return nil, nil, err
	}
	g := &gke{file: h.Config.File, name: fmt.Sprintf("projects/%s/locations/%s/clusters/%s", b.Project, b.Zone, b.Cluster), masker: mask.New(nil), clouds: clouds, block: b}
	if b.ServiceKey == "" {
		return g, nil, nil
	}
	key, display, err := readHubSecret(h, dec, gkeKey+".service_key", b.ServiceKey, "the service account key", "")
	if err != nil {
		return nil, nil, err
	}
	g.keyFile, g.masker = display, mask.New(credentials(key))
	g.creds, err = google.CredentialsFromJSONWithTypeAndParams(clouds.TokenContext(), key, google.ServiceAccount, google.CredentialsParams{Scopes: gkeScopes})
	if err != nil {
		return nil, nil, &inputerr.Error{File: display, Msg: "is not a Google service account key: " + g.masker.Error(err).Error(),
			Hint: fmt.Sprintf("key %q in %s names it; put the JSON key of the service account there (gcloud iam service-accounts keys create), sops-encrypted", gkeKey+".service_key", h.Config.File)}
	}
	return g, key, nil
}

func (g *gke) describe() (string, string) {
	if g.keyFile != "" {
		return "GKE cluster " + g.name, g.keyFile
	}
	return "GKE cluster " + g.name, "Google application default credentials"
}

func (g *gke) login() []string {
	getCredentials := "gcloud container clusters get-credentials " + shellQuote(g.block.Cluster) + " --zone " + shellQuote(g.block.Zone) + " --project " + shellQuote(g.block.Project)
	if g.keyFile == "" {
		return []string{"# with your own gcloud login", getCredentials}
	}
	// A gcloud configuration of its own too: activating the key would change the person's.
	return []string{`export CLOUDSDK_CONFIG="$(mktemp -d)"`, "gcloud auth activate-service-account --key-file <(sops --decrypt " + shellQuote(g.keyFile) + ")", getCredentials}
}

func (g *gke) resolve(ctx context.Context) (*rest.Config, error) {
	if g.creds == nil {
		creds, err := g.clouds.GoogleDefaultCredentials(gkeScopes...)
		if given := cloud.Given(err, g.file, gkeKey); given != nil {
			return nil, given
		}
		if err != nil {
			return nil, &inputerr.Error{File: g.file, Key: gkeKey, Msg: "has no service_key, and no Google application default credentials were found",
				Hint: "set service_key to a sops-encrypted service account key, or log in keyless (GOOGLE_APPLICATION_CREDENTIALS, workload identity federation, or gcloud auth application-default login)"}
		}
		g.creds = creds
	}
	ts := &gkeTokens{g: g, source: g.creds.TokenSource}
	client := &http.Client{Transport: &oauth2.Transport{Source: ts, Base: g.clouds.Client().Transport}}
	opts := []option.ClientOption{option.WithHTTPClient(client)}
	if g.clouds.Google.GKEEndpoint != "" {
		opts = append(opts, option.WithEndpoint(g.clouds.Google.GKEEndpoint))
	}
	svc, err := container.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: key %q: the GKE API client: %v", g.file, gkeKey, g.masker.Error(err))
	}
	c, err := svc.Projects.Locations.Clusters.Get(g.name).Context(ctx).Do()
	if err != nil {
		return nil, g.apiError(err)
	}
	ca, err := base64.StdEncoding.DecodeString(c.MasterAuth.ClusterCaCertificate)
	if c.Endpoint == "" || err != nil {
		return nil, fmt.Errorf("%s: key %q: GKE gave cluster %s no endpoint or CA; is it still being created?", g.file, gkeKey, g.name)
	}
	return withTokens(&rest.Config{Host: "https://" + c.Endpoint, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, ts), nil
}

// gkeTokens is the credentials' token source, its errors said as apiError says them.
type gkeTokens struct {
	g      *gke
	source oauth2.TokenSource
}

func (t *gkeTokens) Token() (*oauth2.Token, error) {
	tok, err := t.source.Token()
	if err != nil {
		return nil, t.g.apiError(err)
	}
	return tok, nil
}

// apiError says what went wrong asking Google, in one line naming the hub's block,
// and what to do. It quotes only Google's messages, masked, never a token or key.
func (g *gke) apiError(err error) error {
	var already *inputerr.Error
	if errors.As(err, &already) {
		return already
	}
	who := "the application default credentials"
	if g.keyFile != "" {
		who = "the service key " + g.keyFile
	}
	input := func(msg, hint string) error { return &inputerr.Error{File: g.file, Key: gkeKey, Msg: msg, Hint: hint} }
	var re *oauth2.RetrieveError
	var ae *googleapi.Error
	switch {
	case errors.As(err, &re):
		if re.ErrorCode == "" { // the JWT flow leaves the body unread
			var body struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &body) == nil {
				re.ErrorCode, re.ErrorDescription = body.Error, body.ErrorDescription
			}
		}
		why := g.masker.String(strings.TrimSpace(re.ErrorCode + " " + re.ErrorDescription))
		if why == "" && re.Response != nil {
			why = http.StatusText(re.Response.StatusCode)
		}
		return input(fmt.Sprintf("Google refused %s (%s)", who, why),
			"the key or login is wrong, expired or revoked: make a new service account key (sops-encrypted) or log in again")
	case errors.As(err, &ae) && ae.Code == http.StatusUnauthorized:
		return input(fmt.Sprintf("GKE refused the token of %s as expired or invalid (%s)", who, g.masker.String(ae.Message)),
			"log in again, or make a new service account key")
	case errors.As(err, &ae) && ae.Code == http.StatusForbidden:
		return input(fmt.Sprintf("permission denied to get %s with %s (%s)", g.name, who, g.masker.String(ae.Message)),
			"grant the account container.clusters.get on the project, e.g. roles/container.clusterViewer")
	case errors.As(err, &ae) && ae.Code == http.StatusNotFound:
		return input(fmt.Sprintf("GKE has no cluster %s", g.name), "fix project, zone (the cluster's location) or cluster")
	case errors.As(err, &ae):
		return fmt.Errorf("%s: key %q: asking GKE for %s: HTTP %d %s", g.file, gkeKey, g.name, ae.Code, g.masker.String(ae.Message))
	}
	return fmt.Errorf("%s: key %q: asking GKE for %s: %v", g.file, gkeKey, g.name, g.masker.Error(err))
}
