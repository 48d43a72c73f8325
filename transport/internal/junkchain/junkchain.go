// Package junkchain makes the certificate chain a stranger presents to
// make a TLS server spend CPU (issue 18): a certificate followed by many
// self-made CA certificates that copy the subject and key id of the
// server's CA, the first of which signed the certificate. A verifier that
// builds chains from what the peer sends tries every one of them as a
// parent of every other, up to crypto/x509's limit of 100 signature
// checks, before the stranger has to prove anything. The CA's subject and
// key id are public: every node certificate names them as its issuer.
package junkchain

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"time"
)

// Make returns a certificate for id (DNS name and common name, fit for
// client and server authentication) followed by n CA certificates with
// keys on curve (P-521 is the slowest to verify), copying ca's subject and
// subject key id, with the certificate's key, ready for a tls.Config.
func Make(ca *x509.Certificate, id string, n int, curve elliptic.Curve) (tls.Certificate, error) {
	var chain [][]byte
	var signer *ecdsa.PrivateKey
	var signerCert *x509.Certificate
	for i := range n {
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return tls.Certificate{}, err
		}
		tmpl := template(ca.Subject)
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		tmpl.SubjectKeyId = ca.SubjectKeyId
		tmpl.AuthorityKeyId = ca.SubjectKeyId
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return tls.Certificate{}, err
		}
		chain = append(chain, der)
		if i == 0 {
			signer = key
			if signerCert, err = x509.ParseCertificate(der); err != nil {
				return tls.Certificate{}, err
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := template(pkix.Name{CommonName: id})
	tmpl.DNSNames = []string{id}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	tmpl.AuthorityKeyId = ca.SubjectKeyId
	parent, parentKey := signerCert, any(signer)
	if n == 0 { // self-signed
		parent, parentKey = tmpl, key
	}
	leaf, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: append([][]byte{leaf}, chain...), PrivateKey: key}, nil
}

// template returns a certificate template with subject, a random serial
// and a validity around now.
func template(subject pkix.Name) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return &x509.Certificate{SerialNumber: serial, Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
}
