package kubeenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// serviceIP is the first address of serviceCIDR: the ClusterIP of the
// kubernetes Service, which in-cluster clients dial and so must be in the
// serving certificate.
const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1"
)

// ca signs every certificate of one cluster. ECDSA P-256 throughout: the
// keys are made in microseconds, where RSA would add a noticeable part of a
// second to every start.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA() (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := certTemplate("kubeenv-ca")
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &ca{cert: cert, key: key}, nil
}

func (c *ca) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

// issue signs tmpl with a fresh key and returns certificate and key as PEM.
func (c *ca) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = privateKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// servingCert is the API server's certificate: valid for loopback, the
// in-cluster names of the kubernetes Service and extraSANs (host names or
// IPs by which something else, such as a container, reaches the server).
func (c *ca) servingCert(extraSANs []string) (certPEM, keyPEM []byte, err error) {
	tmpl := certTemplate("kube-apiserver")
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.DNSNames = []string{
		"localhost",
		"kubernetes",
		"kubernetes.default",
		"kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local",
	}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.ParseIP(serviceIP)}
	for _, san := range extraSANs {
		if ip := net.ParseIP(san); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, san)
		}
	}
	return c.issue(tmpl)
}

// adminCert authenticates as a member of system:masters, which RBAC lets do
// anything; every component and every test uses it.
func (c *ca) adminCert() (certPEM, keyPEM []byte, err error) {
	tmpl := certTemplate("kubeenv-admin")
	tmpl.Subject.Organization = []string{"system:masters"}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return c.issue(tmpl)
}

func certTemplate(cn string) *x509.Certificate {
	// crypto/rand.Reader never returns an error (Go 1.24+).
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		// Back-dated so that a clock step does not make them not yet valid.
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(365 * 24 * time.Hour),
	}
}

func privateKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeServiceAccountKeys writes the key pair with which the API server
// signs service-account tokens and the controller-manager checks them.
func writeServiceAccountKeys(keyFile, pubFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	keyPEM, err := privateKeyPEM(key)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)
}

// pkiFiles are the paths, inside the cluster's folder, that the components
// are given.
type pkiFiles struct {
	caCert, servingCert, servingKey, saKey, saPub string
}

// writePKI makes the cluster's certificates and keys in dir and returns the
// admin client certificate and key, which go into the kubeconfig.
func writePKI(dir string, c *ca, extraSANs []string) (files pkiFiles, adminCert, adminKey []byte, err error) {
	files = pkiFiles{
		caCert:      filepath.Join(dir, "ca.crt"),
		servingCert: filepath.Join(dir, "apiserver.crt"),
		servingKey:  filepath.Join(dir, "apiserver.key"),
		saKey:       filepath.Join(dir, "sa.key"),
		saPub:       filepath.Join(dir, "sa.pub"),
	}
	servingCert, servingKey, err := c.servingCert(extraSANs)
	if err != nil {
		return files, nil, nil, fmt.Errorf("serving certificate: %w", err)
	}
	adminCert, adminKey, err = c.adminCert()
	if err != nil {
		return files, nil, nil, fmt.Errorf("admin certificate: %w", err)
	}
	for path, data := range map[string][]byte{
		files.caCert:      c.certPEM(),
		files.servingCert: servingCert,
		files.servingKey:  servingKey,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return files, nil, nil, err
		}
	}
	if err := writeServiceAccountKeys(files.saKey, files.saPub); err != nil {
		return files, nil, nil, fmt.Errorf("service-account keys: %w", err)
	}
	return files, adminCert, adminKey, nil
}
