package main

// What the client commands share: flags, the connection, output as tables
// or JSON, and errors that say what to do.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// command is a client command: a leaf (run) or a group of subcommands.
type command struct {
	summary string
	run     func(e *cliEnv, args []string) error
	subs    map[string]*command
}

// commands returns every client command, by name; completion.go walks it.
// (A function, not a variable: completion refers back to the table.)
func commands() map[string]*command {
	return map[string]*command{
		"topic": {summary: "create, list, describe, alter and delete topics", subs: map[string]*command{
			"create":   {summary: "create topics", run: topicCreate},
			"list":     {summary: "list topics", run: topicList},
			"describe": {summary: "describe topics: partitions, replicas and configs", run: topicDescribe},
			"alter":    {summary: "add partitions or change configs of a topic", run: topicAlter},
			"delete":   {summary: "delete topics", run: topicDelete},
		}},
		"group": {summary: "list, describe, show lag of, reset offsets of and delete consumer groups", subs: map[string]*command{
			"list":          {summary: "list consumer groups", run: groupList},
			"describe":      {summary: "describe groups: state, members and lag", run: groupDescribe},
			"lag":           {summary: "show per-partition lag of groups", run: groupLag},
			"reset-offsets": {summary: "move a group's committed offsets (dry run unless --execute)", run: groupResetOffsets},
			"delete":        {summary: "delete consumer groups", run: groupDelete},
		}},
		"cluster": {summary: "describe the cluster", subs: map[string]*command{
			"info": {summary: "cluster id, controller, brokers and features", run: clusterInfo},
		}},
		"produce":    {summary: "write records read from standard input to a topic", run: produceCmd},
		"consume":    {summary: "print records of a topic", run: consumeCmd},
		"completion": {summary: "print a shell completion script: bash, zsh or fish", run: completionCmd},
	}
}

// cliEnv is one invocation: its streams and common flags.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	name      string // "topic create", for messages
	bootstrap string
	format    string
	timeout   time.Duration
	clientID  string

	// collect, when set, receives a command's flag set instead of
	// the command running (completion.go).
	collect func(*flag.FlagSet)
}

// usageError makes the command exit with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func (e *cliEnv) dispatch(name string, c *command, args []string) int {
	if c.subs != nil {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			e.printSubs(e.stderr, name, c)
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return exitOK
			}
			return exitUsage
		}
		sub, ok := c.subs[args[0]]
		if !ok {
			fmt.Fprintf(e.stderr, "potok %s: unknown command %q\n", name, args[0])
			e.printSubs(e.stderr, name, c)
			return exitUsage
		}
		return e.dispatch(name+" "+args[0], sub, args[1:])
	}
	e.name = name
	err := c.run(e, args)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "potok %s: %s\nRun \"potok %s -h\" for usage.\n", name, ue.msg, name)
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "potok %s: %s\n", name, e.explain(err))
		return exitError
	}
}

func (e *cliEnv) printSubs(w io.Writer, name string, c *command) {
	fmt.Fprintf(w, "usage: potok %s <command> [flags]\n\ncommands:\n", name)
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	for _, s := range slices.Sorted(maps.Keys(c.subs)) {
		fmt.Fprintf(tw, "  %s\t%s\n", s, c.subs[s].summary)
	}
	tw.Flush()
}

// flags returns a flag set with the common client flags. synopsis is the
// positional arguments, for the usage line.
func (e *cliEnv) flags(synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(e.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def := os.Getenv("POTOK_BOOTSTRAP_SERVER")
	if def == "" {
		def = "localhost:9092"
	}
	fs.StringVar(&e.bootstrap, "bootstrap-server", def, "comma-separated `host:port` list of brokers to connect to ($POTOK_BOOTSTRAP_SERVER)")
	fs.StringVar(&e.format, "format", "table", "output format: table or json")
	fs.DurationVar(&e.timeout, "timeout", 30*time.Second, "give up after this long")
	fs.StringVar(&e.clientID, "client-id", "potok-cli", "client id sent to the brokers")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: potok %s [flags] %s\n\nflags:\n", e.name, synopsis)
		printDefaults(e.stderr, fs)
	}
	return fs
}

// printDefaults is flag.PrintDefaults with the flags spelled --name, as
// they are written everywhere else.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	var buf strings.Builder
	fs.SetOutput(&buf)
	fs.PrintDefaults()
	fs.SetOutput(w)
	fmt.Fprint(w, strings.ReplaceAll("\n"+buf.String(), "\n  -", "\n  --")[1:])
}

// parse parses flags and positional arguments in any order, as Kafka's
// tools accept them (potok topic create orders --partitions 3).
func (e *cliEnv) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	if e.collect != nil {
		e.collect(fs)
		return nil, errCollected
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if e.format != "table" && e.format != "json" {
		return nil, usagef("--format must be table or json, not %q", e.format)
	}
	return pos, nil
}

// client connects to the bootstrap servers; opts add to the defaults.
func (e *cliEnv) client(opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := strings.Split(e.bootstrap, ",")
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(e.clientID),
		// A CLI should fail fast on an unreachable broker rather than
		// retry for a minute.
		kgo.RequestRetries(2),
		kgo.RetryBackoffFn(func(int) time.Duration { return 200 * time.Millisecond }),
		kgo.DialTimeout(5 * time.Second),
	}
	return kgo.NewClient(append(base, opts...)...)
}

// admin returns an admin client and a context bounded by --timeout; done
// cancels the one and closes the other.
func (e *cliEnv) admin() (*kadm.Client, context.Context, func(), error) {
	cl, err := e.client()
	if err != nil {
		return nil, nil, nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(e.timeout.Milliseconds()))
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	return adm, ctx, func() { cancel(); cl.Close() }, nil
}

// explain turns an error into a sentence that says what to do.
func (e *cliEnv) explain(err error) string {
	var ke *kerr.Error
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot connect to %s: connection refused. Is a broker running there? Point --bootstrap-server at one.", e.bootstrap)
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer from %s within %v (--timeout): %v", e.bootstrap, e.timeout, err)
	case errors.As(err, &ke):
		return fmt.Sprintf("%s: %s", ke.Message, ke.Description)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("cannot resolve %s (--bootstrap-server): %v", dnsErr.Name, err)
	}
	return err.Error()
}

// kafkaErr describes a per-resource Kafka error with its message.
func kafkaErr(what string, err error, msg string) error {
	if err == nil {
		return nil
	}
	if msg != "" {
		return fmt.Errorf("%s: %v (%s)", what, err, msg)
	}
	return fmt.Errorf("%s: %v", what, err)
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func (e *cliEnv) table(header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)}
	t.row(anys(header)...)
	return t
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprintln(t.tw)
}

func (t *table) flush() { t.tw.Flush() }

// json writes v as indented JSON.
func (e *cliEnv) json(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ints renders a replica list as Kafka's tools do: 1,2,3.
func ints(xs []int32) string {
	ss := make([]string, len(xs))
	for i, x := range xs {
		ss[i] = fmt.Sprint(x)
	}
	return strings.Join(ss, ",")
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// keyValues parses name=value flags.
func keyValues(flagName string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q is not name=value", flagName, kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}
