//go:build pprof

package main

// Built with -tags pprof, potok serves net/http/pprof on the address in
// PPROF_ADDR (e.g. 127.0.0.1:6060), for profiling under the benchmark
// (docs/performance.md). The variable is deliberately not a POTOK_ one,
// which would be read as a broker setting. Release builds do not carry it.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
