package transport

import (
	"crypto/x509"
	"fmt"
	"net/url"
)

// Cluster binding of certificates (issue 18). A CA may sign the nodes of
// several clusters; before, a node of another cluster sharing the CA passed
// the handshake, and only its messages were dropped (WrongCluster), while
// its connection took the place of the peer's of the same id.
// GenerateClusterCerts therefore also names the cluster in each node
// certificate, as a URI subject alternative name graft://CLUSTER/ID, and
// both ends of every handshake check it (verifyPeer): a certificate bound
// to another cluster is refused, with an error naming both clusters.
//
// Certificates without such a name (GenerateCerts, and every certificate
// made before) are still accepted, bound to no cluster: refusing them
// would cut a running cluster in two while it is upgraded node by node. To
// get the protection, regenerate the certificates with a cluster.

// uriScheme is the scheme of the URI SAN that binds a node certificate to
// a cluster.
const uriScheme = "graft"

// clusterURI returns graft://CLUSTER/ID.
func clusterURI(cluster, id string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: cluster, Path: "/" + id}
}

// certCluster returns the cluster a node certificate for id is bound to,
// "" if none. It fails if the certificate has more than one graft URI, or
// one that names another id.
func certCluster(c *x509.Certificate, id string) (string, error) {
	var found *url.URL
	for _, u := range c.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		if found != nil {
			return "", fmt.Errorf("certificate names %d clusters", 2)
		}
		found = u
	}
	if found == nil {
		return "", nil
	}
	if found.Path != "/"+id {
		return "", fmt.Errorf("certificate's URI %q does not name node %q", found.String(), id)
	}
	if err := validClusterName(found.Host); err != nil {
		return "", fmt.Errorf("certificate's URI %q: %w", found.String(), err)
	}
	return found.Host, nil
}

// checkCluster refuses a certificate for id bound to a cluster other than
// cluster (which may be "" to check nothing).
func checkCluster(c *x509.Certificate, id, cluster string) error {
	got, err := certCluster(c, id)
	switch {
	case err != nil:
		return err
	case got != "" && cluster != "" && got != cluster:
		return fmt.Errorf("certificate of node %q is for cluster %q, this is cluster %q", id, got, cluster)
	}
	return nil
}

// validClusterName reports whether a cluster name can be written into a
// certificate: the characters of a node id (validID), at most 253.
func validClusterName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("cluster name %q must have 1 to 253 characters", name)
	}
	for i := range len(name) {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return fmt.Errorf("cluster name %q: character %q not allowed in a certificate (use A-Z a-z 0-9 . _ -)", name, b)
		}
	}
	return nil
}
