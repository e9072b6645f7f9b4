package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// SecretValue reads key of the Secret name in namespace; found is false when the Secret
// or its key is absent. The value is a secret: keep it out of every output.
func (a *Access) SecretValue(ctx context.Context, namespace, name, key string) (value []byte, found bool, err error) {
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		return nil, false, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, false, err
	}
	s, err := client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	value, found = s.Data[key]
	return value, found, nil
}

// WhoAmI is who the API server takes the access's credentials for (a
// SelfSubjectReview): the user, and its groups.
func (a *Access) WhoAmI(ctx context.Context) (user string, groups []string, err error) {
	rc, err := a.Getter.ToRESTConfig()
	if err != nil {
		return "", nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return "", nil, err
	}
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	var already *inputerr.Error
	var ue *url.Error
	switch {
	case err == nil:
	case errors.As(err, &already): // a cloud's token, refused: it names the block
		return "", nil, already
	case errors.As(err, &ue): // the URL is the server's, which the caller names
		return "", nil, fmt.Errorf("cannot reach the API server: %w (check the cluster block of hubploy.yaml, the kubeconfig and the network)", ue.Err)
	default:
		return "", nil, fmt.Errorf("the API server did not say who hubploy is: %w", err)
	}
	return review.Status.UserInfo.Username, review.Status.UserInfo.Groups, nil
}
