package cluster

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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
	if err != nil {
		return "", nil, fmt.Errorf("asking the API server who hubploy is: %w", err)
	}
	return review.Status.UserInfo.Username, review.Status.UserInfo.Groups, nil
}
