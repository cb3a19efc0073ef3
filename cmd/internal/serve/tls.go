package serve

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// TLSFlagHelp is the help text of a -tls flag that TLSConfig reads.
const TLSFlagHelp = "serve HTTPS (with HTTP/2, see -http2) with this certificate: `CERT,KEY` (PEM files), or auto: " +
	"a self-signed certificate for localhost, 127.0.0.1 and ::1 made at start (FOR LOCAL USE ONLY: browsers warn, " +
	"and anyone on the path could impersonate a server whose clients accept it)"

// TLSConfig builds the server's tls.Config from a -tls flag's value:
// "CERT,KEY" loads a PEM certificate chain and its key, "auto" makes a
// self-signed one (see SelfSigned). It also returns the certificate's
// SHA-256 fingerprint, for the log: a person compares it with what the
// browser shows before accepting the certificate.
func TLSConfig(spec string) (*tls.Config, string, error) {
	var cert tls.Certificate
	if spec == "auto" {
		var err error
		if cert, err = SelfSigned(time.Now()); err != nil {
			return nil, "", err
		}
	} else {
		certFile, keyFile, ok := strings.Cut(spec, ",")
		if !ok || certFile == "" || keyFile == "" {
			return nil, "", fmt.Errorf("-tls %q: want CERT,KEY (two PEM files) or auto", spec)
		}
		var err error
		if cert, err = tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			return nil, "", fmt.Errorf("-tls: %w", err)
		}
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, Fingerprint(sum[:]), nil
}

// Fingerprint formats a certificate digest as browsers show it:
// upper-case hex bytes separated by colons.
func Fingerprint(sum []byte) string {
	var sb strings.Builder
	for i, c := range sum {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", c)
	}
	return sb.String()
}

// SelfSigned makes a certificate for localhost, 127.0.0.1 and ::1 with a
// fresh ECDSA P-256 key, valid from an hour before now for 30 days. It is
// its own issuer, so no client trusts it until told to: it exists so that
// a person can try HTTPS (and with it HTTP/2, which browsers speak only
// over TLS) on their own machine. The key lives only in memory.
func SelfSigned(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"ws6455 self-signed, for local use only"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
