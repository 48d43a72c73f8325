package graft

// ReloadTLS reads the node's certificate, key and CA files again and uses
// them for every connection made from now on; connections up stay as they
// are. The node also does this by itself within about 2 s of a change of
// the files (a file that fails then goes to OnError or the Logger); call
// it after writing new files to learn at once whether they are good. If
// they are not, the node keeps the credentials it has and the error, a
// *transport.CertError naming the file at fault, is returned. The CA file
// may hold several CAs, so a cluster rotates its CA without a leader
// change: add the new CA to every node's CA file, reissue the node
// certificates, then remove the old CA. After Close it returns
// transport.ErrClosed.
func (nd *Node) ReloadTLS() error { return nd.tr.ReloadTLS() }
