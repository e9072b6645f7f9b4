package cloud_test

import (
	"testing"

	"github.com/aws/smithy-go"

	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/mask"
)

// A refusal's hint names sts:AssumeRole only when a role is assumed.
func TestAWSErrorPermissionHint(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: u is not authorized"}
	for _, tc := range []struct {
		site cloud.Site
		want string
	}{
		{cloud.Site{File: "h.yaml", Key: "cluster.aws", Who: "the keys of k.cfg", Masker: mask.New(nil)},
			`h.yaml: key "cluster.aws": permission denied with the keys of k.cfg (User: u is not authorized) (allow eks:DescribeCluster on the cluster to the identity)`},
		{cloud.Site{File: "h.yaml", Key: "cluster.aws", Who: "the role r", Masker: mask.New(nil), AssumesRole: true},
			`h.yaml: key "cluster.aws": permission denied with the role r (User: u is not authorized) (allow sts:AssumeRole of the role, and eks:DescribeCluster on the cluster, to the identity)`},
	} {
		if err := cloud.AWSError(tc.site, denied, "EKS cluster c", "eks:DescribeCluster on the cluster"); err == nil || err.Error() != tc.want {
			t.Errorf("got  %v\nwant %s", err, tc.want)
		}
	}
}
