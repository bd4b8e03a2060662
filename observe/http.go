package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPOptions configure the admin listener.
type HTTPOptions struct {
	// Addr is host:port; port 0 picks a free port.
	Addr    string
	Metrics *Metrics
	Levels  *Levels
	// Ready reports whether the broker serves clients; nil means ready.
	Ready  func() error
	Logger *slog.Logger
}

// HTTPServer is the admin listener:
//
//	GET  /metrics                  Prometheus text format
//	GET  /healthz                  200 while the process runs
//	GET  /readyz                   200 when the broker serves clients, 503 with the reason otherwise
//	GET  /loggers                  every logger and its level (JSON)
//	PUT  /loggers?name=N&level=L   set a logger's level (root sets the default)
//	DELETE /loggers?name=N         make a logger follow root again
//
// It owns one goroutine, stopped by Close.
type HTTPServer struct {
	ln   net.Listener
	srv  *http.Server
	done sync.WaitGroup
}

// ListenHTTP binds the listener and starts serving.
func ListenHTTP(o HTTPOptions) (*HTTPServer, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("http listener on %s: %w", o.Addr, err)
	}
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics.Registry(), promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if o.Ready != nil {
			if err := o.Ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	if o.Levels != nil {
		lv := o.Levels
		mux.HandleFunc("GET /loggers", func(w http.ResponseWriter, _ *http.Request) {
			out := map[string]string{}
			for _, n := range lv.Names() {
				out[n] = lv.Level(n)
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(out)
		})
		mux.HandleFunc("PUT /loggers", func(w http.ResponseWriter, r *http.Request) {
			name, level := r.FormValue("name"), r.FormValue("level")
			if name == "" {
				name = RootLogger
			}
			lvl, err := ParseLevel(level)
			if err == nil {
				err = lv.Set(name, lvl)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			o.Logger.Info("log level changed", "for", name, "level", LevelName(lvl), "via", "http")
			fmt.Fprintf(w, "%s=%s\n", name, lv.Level(name))
		})
		mux.HandleFunc("DELETE /loggers", func(w http.ResponseWriter, r *http.Request) {
			name := r.FormValue("name")
			if err := lv.Reset(name); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "%s=%s\n", name, lv.Level(name))
		})
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		paths := []string{"/metrics", "/healthz", "/readyz", "/loggers"}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintln(w, p)
		}
	})
	s := &HTTPServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("http listener stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *HTTPServer) Addr() net.Addr { return s.ln.Addr() }

// Close stops the listener, lets requests in flight finish until ctx ends,
// and waits for the serving goroutine.
func (s *HTTPServer) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	s.done.Wait()
	return err
}
