package cluster

import (
	"context"
	"fmt"

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
