package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// certValidity is how long generated certificates are valid.
const certValidity = 10 * 365 * 24 * time.Hour

// GenerateCerts writes development certificates into dir (created if
// missing): the cluster CA as ca.pem and ca-key.pem, and for each id a
// certificate <id>.pem and key <id>-key.pem. Keys are ECDSA P-256 and
// written with mode 0600; certificates are valid for 10 years, usable for
// both server and client authentication, and name the id as DNS SAN and
// common name. If ca.pem and ca-key.pem already exist in dir, that CA is
// reused, so nodes can be added to a cluster later; existing node files
// are overwritten. ids must be valid node ids (see Config.ID), distinct,
// and not "ca". The certificates are bound to no cluster; see
// GenerateClusterCerts.
func GenerateCerts(dir string, ids []string) error { return GenerateClusterCerts(dir, "", ids) }

// GenerateClusterCerts is GenerateCerts, with each node certificate also
// bound to cluster (Config.Cluster): it names graft://CLUSTER/ID as URI
// subject alternative name, and nodes refuse it in a cluster of another
// name (certcluster.go), also when the clusters share the CA. cluster ""
// binds none; otherwise it must use the characters of a node id.
func GenerateClusterCerts(dir, cluster string, ids []string) error {
	if cluster != "" {
		if err := validClusterName(cluster); err != nil {
			return fmt.Errorf("transport: certs: %w", err)
		}
	}
	if len(ids) == 0 {
		return errors.New("transport: certs: no node ids given")
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := validID(id); err != nil {
			return fmt.Errorf("transport: certs: %w", err)
		}
		if seen[id] {
			return fmt.Errorf("transport: certs: node id %q given twice", id)
		}
		seen[id] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("transport: certs: %w", err)
	}
	ca, caKey, err := loadOrCreateCA(dir)
	if err != nil {
		return err
	}
	for _, id := range ids {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("transport: certs: %w", err)
		}
		tmpl := template(pkix.Name{CommonName: id})
		tmpl.DNSNames = []string{id}
		if cluster != "" {
			tmpl.URIs = []*url.URL{clusterURI(cluster, id)}
		}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("transport: certs: node %q: %w", id, err)
		}
		if err := writeKey(filepath.Join(dir, id+"-key.pem"), key); err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, id+".pem"), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func template(subject pkix.Name) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour), // tolerate clock skew between hosts
		NotAfter:     now.Add(certValidity),
	}
}

// loadOrCreateCA reuses dir/ca.pem and dir/ca-key.pem when both exist and
// creates them when neither does.
func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		pair, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, nil, &CertError{File: certPath, Err: fmt.Errorf("existing CA unusable: %w", err)}
		}
		ca, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, nil, &CertError{File: certPath, Err: err}
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok || !ca.IsCA {
			return nil, nil, &CertError{File: certPath, Err: errors.New("existing CA is not an ECDSA CA certificate")}
		}
		return ca, key, nil
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
	case certErr == nil:
		return nil, nil, &CertError{File: keyPath, Err: fmt.Errorf("missing although %s exists: %w", certPath, keyErr)}
	case keyErr == nil:
		return nil, nil, &CertError{File: certPath, Err: fmt.Errorf("missing although %s exists: %w", keyPath, certErr)}
	default:
		return nil, nil, &CertError{File: certPath, Err: certErr}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: certs: %w", err)
	}
	tmpl := template(pkix.Name{CommonName: "graft cluster CA"})
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: certs: CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: certs: CA: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("transport: certs: %w", err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

// writePEM writes atomically enough for a dev tool: a temporary file in the
// same directory with the final mode, then a rename.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("transport: certs: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("transport: certs: %w", err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der}); err != nil {
		tmp.Close()
		return fmt.Errorf("transport: certs: %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("transport: certs: %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("transport: certs: %w", err)
	}
	return nil
}
