package serve

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// -tls auto: a certificate that verifies for localhost, 127.0.0.1 and ::1
// once trusted (it is its own root), and no other name; the fingerprint
// is the SHA-256 of its DER, as browsers show it.
func TestTLSConfigAuto(t *testing.T) {
	cfg, fp, err := TLSConfig("auto")
	if err != nil {
		t.Fatal(err)
	}
	der := cfg.Certificates[0].Certificate[0]
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if fp != Fingerprint(sum[:]) || len(fp) != 32*3-1 || strings.ToUpper(fp) != fp {
		t.Errorf("fingerprint %q", fp)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("verifies for example.com")
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "localhost"}); err == nil {
		t.Error("verifies without being trusted")
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
}

// -tls CERT,KEY loads PEM files; a malformed flag or a missing file is an
// error that names the problem.
func TestTLSConfigFiles(t *testing.T) {
	cert, err := SelfSigned(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	cfg, fp, err := TLSConfig(certFile + "," + keyFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	if fp != Fingerprint(sum[:]) || string(cfg.Certificates[0].Certificate[0]) != string(cert.Certificate[0]) {
		t.Errorf("loaded another certificate (fingerprint %s)", fp)
	}
	for spec, want := range map[string]string{
		"":                            "want CERT,KEY",
		certFile:                      "want CERT,KEY",
		certFile + ",":                "want CERT,KEY",
		certFile + "," + dir + "/nil": "no such file",
	} {
		if _, _, err := TLSConfig(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("TLSConfig(%q): %v, want an error saying %q", spec, err, want)
		}
	}
}
