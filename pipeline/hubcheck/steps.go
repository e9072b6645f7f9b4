package hubcheck

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// pollInterval is how often a step that waits for the hub asks it again.
const pollInterval = 500 * time.Millisecond

func (r *run) health(ctx context.Context) error {
	_, err := r.call(ctx, http.MethodGet, r.url("hub", "health"), http.StatusOK)
	return err
}

// api reads the hub's version, then whom the token belongs to: /hub/api
// answers anyone, /hub/api/user only a token the hub knows.
func (r *run) api(ctx context.Context) error {
	var info struct {
		Version string `json:"version"`
	}
	if err := r.callJSON(ctx, http.MethodGet, r.url("hub", "api"), &info, http.StatusOK); err != nil {
		return err
	}
	r.report.Version = info.Version
	var owner struct {
		Name string `json:"name"`
	}
	u := r.url("hub", "api", "user")
	if err := r.callJSON(ctx, http.MethodGet, u, &owner, http.StatusOK); err != nil {
		return err
	}
	// The hub would start the server but refuse to delete the user.
	if owner.Name == r.user {
		return &stepError{permanent: true, msg: fmt.Sprintf("GET %s: the token belongs to %q, the check user's name; choose another check user", u.Path, owner.Name)}
	}
	return nil
}

// createUser creates the check user, or reuses one a check left behind, after
// stopping any server it still has.
func (r *run) createUser(ctx context.Context) error {
	status, err := r.call(ctx, http.MethodPost, r.userURL(), http.StatusCreated, http.StatusConflict)
	if err != nil || status == http.StatusCreated {
		return err
	}
	return r.stopServer(ctx)
}

// startServer asks for the user's server, and when the hub answers that the
// spawn is pending (202), follows its progress events until it is ready or
// has failed.
func (r *run) startServer(ctx context.Context) error {
	status, err := r.call(ctx, http.MethodPost, r.userURL("server"), http.StatusCreated, http.StatusAccepted)
	if err != nil || status == http.StatusCreated {
		return err
	}
	return r.followProgress(ctx)
}

// progressEvent is one event of /hub/api/users/NAME/server/progress.
type progressEvent struct {
	Ready   bool   `json:"ready"`
	Failed  bool   `json:"failed"`
	Message string `json:"message"`
}

func (r *run) followProgress(ctx context.Context) error {
	u := r.userURL("server", "progress")
	resp, err := r.send(ctx, http.MethodGet, u, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data:")
		if !ok {
			continue
		}
		var event progressEvent
		if err := json.Unmarshal([]byte(data), &event); err != nil {
			return fmt.Errorf("GET %s: unreadable progress event: %v", u.Path, err)
		}
		switch {
		case event.Ready:
			return nil
		case event.Failed:
			return fmt.Errorf("GET %s: the server did not start: %s; check the hub's log and the spawner's", u.Path, event.Message)
		}
	}
	if err := lines.Err(); err != nil {
		return fmt.Errorf("GET %s: waiting for the server: %s", u.Path, transportError(err))
	}
	return fmt.Errorf("GET %s: the progress stream ended before the server was ready", u.Path)
}

// serverStatus asks the user's server for its status through the hub's
// proxy: the route exists and the server takes the hub's token. It is the
// proxy's route, under the hub's URL, rather than the server URL the API
// gives, which would leave out the path of a service proxy in front.
func (r *run) serverStatus(ctx context.Context) error {
	var status struct {
		Started string `json:"started"`
	}
	u := r.url("user", r.user, "api", "status")
	if err := r.callJSON(ctx, http.MethodGet, u, &status, http.StatusOK); err != nil {
		return err
	}
	if status.Started == "" {
		return fmt.Errorf("GET %s: not a Jupyter server's status; check the proxy's route for %s", u.Path, r.user)
	}
	return nil
}

// stopServer stops the user's server and waits until it has stopped. A
// spawn still pending cannot be stopped (the hub answers 400): it waits for
// the hub to finish or give up on it first.
func (r *run) stopServer(ctx context.Context) error {
	for {
		var user struct {
			Servers map[string]struct {
				Pending *string `json:"pending"`
			} `json:"servers"`
		}
		if err := r.callJSON(ctx, http.MethodGet, r.userURL(), &user, http.StatusOK); err != nil {
			return err
		}
		server, exists := user.Servers[""]
		if !exists {
			return nil
		}
		if server.Pending == nil {
			if _, err := r.call(ctx, http.MethodDelete, r.userURL("server"), http.StatusNoContent, http.StatusAccepted); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			pending := "running"
			if server.Pending != nil {
				pending = "pending " + *server.Pending
			}
			return fmt.Errorf("GET %s: the server is still %s", r.userURL().Path, pending)
		case <-time.After(pollInterval):
		}
	}
}

func (r *run) deleteUser(ctx context.Context) error {
	_, err := r.call(ctx, http.MethodDelete, r.userURL(), http.StatusNoContent, http.StatusNotFound)
	return err
}

// url is a path under the hub's URL, each element escaped.
func (r *run) url(elem ...string) *url.URL { return r.base.JoinPath(elem...) }

func (r *run) userURL(elem ...string) *url.URL {
	return r.url(append([]string{"hub", "api", "users", r.user}, elem...)...)
}

// call sends a request and reads the answer away; the status must be one of
// want.
func (r *run) call(ctx context.Context, method string, u *url.URL, want ...int) (int, error) {
	resp, err := r.send(ctx, method, u, want...)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

func (r *run) callJSON(ctx context.Context, method string, u *url.URL, into any, want ...int) error {
	resp, err := r.send(ctx, method, u, want...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(into); err != nil {
		return fmt.Errorf("%s %s: the answer is not the hub's JSON (%v); check the hub URL", method, u.Path, err)
	}
	return nil
}

// send sends an authenticated request. Any other status than want is an
// error naming the request, what the hub said and what to check.
func (r *run) send(ctx context.Context, method string, u *url.URL, want ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "token "+r.token)
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %s", method, u.Path, transportError(err))
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, statusError(method, u.Path, resp)
}

// transportError is why a request got no answer, without the URL that
// url.Error repeats.
func transportError(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Sprintf("%v; check that the hub runs and that its URL is right", err)
}

// statusError describes an unexpected answer with the hub's own message,
// and says what to check for the statuses that have one cause.
func statusError(method, path string, resp *http.Response) error {
	msg := hubMessage(resp)
	what := fmt.Sprintf("%s %s: the hub answered %s", method, path, resp.Status)
	if msg != "" && msg != http.StatusText(resp.StatusCode) {
		what += ": " + msg
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return &stepError{permanent: true, msg: what + "; the API token was refused: check the token and that its service may manage users and servers (admin:users, admin:servers, access:servers)"}
	case http.StatusNotFound:
		return &stepError{permanent: true, msg: what + "; check the hub URL and its base_url"}
	}
	return errors.New(what)
}

// hubMessage is the message of a JupyterHub error ({"status": …, "message":
// …}), else the start of the body's first line, as from a proxy in front.
func hubMessage(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var hubErr struct {
		Message string `json:"message"`
	}
	text := string(body)
	if json.Unmarshal(body, &hubErr) == nil && hubErr.Message != "" {
		text = hubErr.Message
	}
	text, _, _ = strings.Cut(strings.TrimSpace(text), "\n")
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	return text
}
