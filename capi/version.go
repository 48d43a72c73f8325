package main

// main is required by -buildmode=c-shared and c-archive; it never runs.
// graft_version and graft_version_number are in shims.c: they need no Go.
func main() {}
