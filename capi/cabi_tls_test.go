//go:build cabitest

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// serverCert issues a server certificate for dnsName (and no IP address) and returns its PEM
// and its key's PEM.
func (ca testCA) serverCert(t *testing.T, dnsName string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// TestCABITLSVerification connects to a Mosquitto TLS listener whose certificate (from a CA
// the client trusts) names another host than the 127.0.0.1 it is dialled at:
// tls_skip_hostname_check connects while the chain is still verified (a certificate from an
// untrusted CA is refused), only tls_insecure turns every check off, and a program built
// before the field existed keeps the full verification.
func TestCABITLSVerification(t *testing.T) {
	trusted, other := newTestCA(t, "hamqtt test CA"), newTestCA(t, "hamqtt other CA")
	certPEM, keyPEM := trusted.serverCert(t, "broker.invalid")
	// Mosquitto started as root drops to its own user: the files must be readable by it.
	dir, err := os.MkdirTemp("", "hamqtt-cabi-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"server.pem": certPEM, "server.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := brokertest.Start(t, brokertest.Options{ExtraConfig: "certfile " + filepath.Join(dir, "server.pem") + "\nkeyfile " + filepath.Join(dir, "server.key")})
	uri := "ssl://" + b.Addr()

	for _, tc := range []struct {
		name                string
		ca                  string
		skip, insecure, old bool
		ok                  bool
		errText             string
	}{
		{"full verification: the host name does not match", trusted.pem, false, false, false, false, "certificate"},
		{"host name check skipped, chain verified", trusted.pem, true, false, false, true, ""},
		{"host name check skipped, untrusted CA", other.pem, true, false, false, false, "certificate"},
		{"verification off", other.pem, false, true, false, true, ""},
		{"older header: the field is not read", trusted.pem, true, false, true, false, "certificate"},
	} {
		status, msg := cabiTLSConnect(uri, tc.ca, tc.skip, tc.insecure, tc.old)
		switch {
		case tc.ok && status != 0:
			t.Errorf("%s: status %d %q, want a connection", tc.name, status, msg)
		case !tc.ok && status != errNoEndpoint:
			t.Errorf("%s: status %d %q, want HAMQTT_ERR_NO_ENDPOINT", tc.name, status, msg)
		case !tc.ok && !strings.Contains(msg, tc.errText):
			t.Errorf("%s: error %q lacks %q", tc.name, msg, tc.errText)
		}
	}
}
