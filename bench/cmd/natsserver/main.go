// Command natsserver runs an embedded NATS server (nats-server v2) for the
// nats-io/graft nodes of the benchmark, in a process of its own so that its
// CPU time can be measured apart from the nodes'. It prints
//
//	READY t=<ms> url=nats://127.0.0.1:<port> pid=<pid>
//
// and runs until SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/graftlib/graft/internal/monotime"
	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	port := flag.Int("port", -1, "TCP port (-1: any free port)")
	flag.Parse()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: *port, NoLog: true, NoSigs: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsserver:", err)
		os.Exit(1)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(os.Stderr, "natsserver: not ready after 10s")
		os.Exit(1)
	}
	fmt.Printf("READY t=%.3f url=%s pid=%d\n", monotime.Millis(), s.ClientURL(), os.Getpid())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	s.Shutdown()
}
