// Command kfakebroker runs franz-go's kfake as a one-node cluster in its own
// process, so that the benchmark can measure its CPU time and memory the
// same way as Potok's. It prints the listen address and runs until SIGTERM.
//
//	kfakebroker -port 9092                 in memory
//	kfakebroker -port 9092 -data DIR       persisted, written through the page cache
//	kfakebroker -port 9092 -data DIR -sync persisted, fsync per batch
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "port to listen on (127.0.0.1); 0 picks one")
	data := flag.String("data", "", "data directory: persisted mode (empty: in memory)")
	sync := flag.Bool("sync", false, "with -data: fsync every batch (kfake.SyncWrites)")
	flag.Parse()

	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(*port)}
	if *data != "" {
		opts = append(opts, kfake.DataDir(*data))
		if *sync {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakebroker:", err)
		os.Exit(1)
	}
	fmt.Println(c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	c.Close()
}
