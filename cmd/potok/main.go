// Command potok runs a Kafka-compatible broker.
//
//	potok serve [--config server.properties] [--set name=value]... [flags]
//
// Settings use Kafka's names. They are read, each overriding the one
// before, from the built-in defaults, the --config file, POTOK_* environment
// variables (POTOK_LOG_DIRS sets log.dirs) and flags.
package main

import (
	"fmt"
	"os"

	"github.com/potok-io/potok/broker"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "apis":
		fmt.Print(broker.APITableMarkdown())
	case "version":
		fmt.Println("potok", version)
	case "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "potok: unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "potok: %v\n", err)
		os.Exit(1)
	}
}

var version = "dev"

func usage() {
	fmt.Fprint(os.Stderr, `usage: potok <command> [flags]

commands:
  serve     run the broker (the default command)
  apis      print the served Kafka APIs and versions (Markdown)
  version   print the version

Run "potok serve -h" for the broker's flags.
`)
}
