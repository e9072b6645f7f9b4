package cloud_test

import (
	"testing"

	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/hubploy/hubploy/pipeline/cloud"
)

func TestFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name                           string
		env                            map[string]string
		gke, token                     string
		authority, armURL, armAudience string
	}{
		{"nothing set: the public clouds", nil, "", "", "", "", ""},
		{"private Google endpoints", map[string]string{"HUBPLOY_GKE_ENDPOINT": "https://container-psc.p.googleapis.com/", "HUBPLOY_GOOGLE_TOKEN_URI": "https://oauth2-psc.p.googleapis.com/token"},
			"https://container-psc.p.googleapis.com/", "https://oauth2-psc.p.googleapis.com/token", "", "", ""},
		{"Azure China", map[string]string{"HUBPLOY_AZURE_RESOURCE_MANAGER": "https://management.chinacloudapi.cn/"},
			"", "", "https://login.chinacloudapi.cn/", "https://management.chinacloudapi.cn/", "https://management.core.chinacloudapi.cn/"},
		{"an authority alone: the public Resource Manager", map[string]string{"AZURE_AUTHORITY_HOST": "https://login.internal/"},
			"", "", "https://login.internal/", "https://management.azure.com", "https://management.core.windows.net/"},
		{"a private Resource Manager alone: the public authority", map[string]string{"HUBPLOY_AZURE_RESOURCE_MANAGER": "https://arm.internal/"},
			"", "", "https://login.microsoftonline.com/", "https://arm.internal/", "https://management.core.windows.net/"},
		{"a private Resource Manager and authority", map[string]string{"HUBPLOY_AZURE_RESOURCE_MANAGER": "https://arm.internal/", "AZURE_AUTHORITY_HOST": "https://login.internal/"},
			"", "", "https://login.internal/", "https://arm.internal/", "https://management.core.windows.net/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apis := cloud.FromEnvironment(func(k string) string { return tc.env[k] })
			arm := apis.Azure.Cloud.Services[azcloud.ResourceManager]
			if apis.Google.GKEEndpoint != tc.gke || apis.Google.TokenURI != tc.token || apis.Azure.Cloud.ActiveDirectoryAuthorityHost != tc.authority ||
				arm.Endpoint != tc.armURL || arm.Audience != tc.armAudience {
				t.Errorf("got %+v %+v", apis.Google, apis.Azure.Cloud)
			}
		})
	}
	if azcloud.AzurePublic.Services[azcloud.ResourceManager].Endpoint != "https://management.azure.com" {
		t.Error("the SDK's public cloud was changed")
	}
}
