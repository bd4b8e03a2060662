// Command potok runs a Kafka-compatible broker and administers any Kafka
// cluster (Potok or Apache Kafka) over the Kafka protocol.
//
//	potok serve [--config server.properties] [--set name=value]... [flags]
//	potok topic create|list|describe|alter|delete ...
//	potok group list|describe|lag|reset-offsets|delete ...
//	potok produce TOPIC / potok consume TOPIC
//	potok cluster info
//
// Broker settings use Kafka's names. They are read, each overriding the one
// before, from the built-in defaults, the --config file, POTOK_* environment
// variables (POTOK_LOG_DIRS sets log.dirs) and flags. The client commands
// take --bootstrap-server as Kafka's tools do (default localhost:9092).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/potok-io/potok/broker"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the operation failed (connection, Kafka error, bad input)
	exitUsage = 2 // the command line is wrong
)

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr}
	switch cmd {
	case "serve":
		if err := serve(args); err != nil {
			fmt.Fprintf(stderr, "potok: %v\n", err)
			return exitError
		}
		return exitOK
	case "apis":
		fmt.Fprint(stdout, broker.APITableMarkdown())
		return exitOK
	case "version", "--version":
		fmt.Fprintln(stdout, "potok", version)
		return exitOK
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	}
	if c, ok := commands()[cmd]; ok {
		return env.dispatch(cmd, c, args)
	}
	fmt.Fprintf(stderr, "potok: unknown command %q\n", cmd)
	usage(stderr)
	return exitUsage
}

var version = "dev"

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: potok <command> [flags]

commands:
  serve        run the broker (the default command)
  topic        create, list, describe, alter and delete topics
  group        list, describe, show lag of, reset offsets of and delete consumer groups
  produce      write records read from standard input to a topic
  consume      print records of a topic
  cluster      describe the cluster (cluster info)
  completion   print a shell completion script (bash, zsh or fish)
  apis         print the served Kafka APIs and versions (Markdown)
  version      print the version

The client commands talk the Kafka protocol to any broker, Potok or Kafka:
--bootstrap-server host:port (default localhost:9092), --format json for
scripts. Run "potok <command> -h" for a command's flags, "potok serve -h"
for the broker's.
`)
}
