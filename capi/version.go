package main

// main is required by -buildmode=c-shared and c-archive; it never runs.
// graft_version is in shims.c: it needs no Go.
func main() {}
