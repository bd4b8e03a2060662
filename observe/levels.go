package observe

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// RootLogger is the logger whose level every other logger follows until it
// is given its own (log4j's root logger, which Kafka's broker-loggers
// describe the same way).
const RootLogger = "root"

// Levels holds the level of each named logger, changeable at runtime: the
// broker's loggers consult it on every record, without a lock. A logger
// without a level of its own follows the root's.
type Levels struct {
	root slog.LevelVar

	mu     sync.Mutex
	byName map[string]*loggerLevel // guarded by mu; entries are never removed
}

type loggerLevel struct {
	own   atomic.Bool // set: level applies; clear: follow the root
	level slog.LevelVar
}

// NewLevels returns levels with the root at root.
func NewLevels(root slog.Level) *Levels {
	l := &Levels{byName: map[string]*loggerLevel{}}
	l.root.Set(root)
	return l
}

// Logger returns a logger named name writing to h. h should accept every
// level (slog.HandlerOptions.Level below Debug): the filtering is done here,
// so that levels can be lowered at runtime. Records carry the attribute
// logger=name.
func (l *Levels) Logger(h slog.Handler, name string) *slog.Logger {
	return slog.New(&levelHandler{inner: h.WithAttrs([]slog.Attr{slog.String("logger", name)}), levels: l, own: l.entry(name)})
}

func (l *Levels) entry(name string) *loggerLevel {
	if name == RootLogger {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byName[name]
	if e == nil {
		e = &loggerLevel{}
		l.byName[name] = e
	}
	return e
}

// level is the level in force for a logger (nil: root).
func (l *Levels) level(e *loggerLevel) slog.Level {
	if e != nil && e.own.Load() {
		return e.level.Level()
	}
	return l.root.Level()
}

// Names returns the known loggers, root first.
func (l *Levels) Names() []string {
	l.mu.Lock()
	names := slices.Sorted(maps.Keys(l.byName))
	l.mu.Unlock()
	return append([]string{RootLogger}, names...)
}

// Has reports whether a logger of that name exists.
func (l *Levels) Has(name string) bool {
	if name == RootLogger {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byName[name] != nil
}

// Level returns the effective level of a logger, in Kafka's (log4j's)
// spelling: DEBUG, INFO, WARN or ERROR.
func (l *Levels) Level(name string) string {
	var e *loggerLevel
	if name != RootLogger {
		l.mu.Lock()
		e = l.byName[name]
		l.mu.Unlock()
	}
	return LevelName(l.level(e))
}

// Set gives a logger its own level (the root's level for root). Unknown
// loggers are an error.
func (l *Levels) Set(name string, level slog.Level) error {
	if name == RootLogger {
		l.root.Set(level)
		return nil
	}
	l.mu.Lock()
	e := l.byName[name]
	l.mu.Unlock()
	if e == nil {
		return fmt.Errorf("unknown logger %q", name)
	}
	e.level.Set(level)
	e.own.Store(true)
	return nil
}

// Reset makes a logger follow the root again. Resetting root is an error,
// as in Kafka.
func (l *Levels) Reset(name string) error {
	if name == RootLogger {
		return fmt.Errorf("the root logger's level cannot be removed")
	}
	l.mu.Lock()
	e := l.byName[name]
	l.mu.Unlock()
	if e == nil {
		return fmt.Errorf("unknown logger %q", name)
	}
	e.own.Store(false)
	return nil
}

// ParseLevel reads a level as Kafka's tools write it (log4j names, any
// case): TRACE and DEBUG are debug, FATAL and ERROR are error; slog's
// offsets such as DEBUG-4 are accepted too.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TRACE":
		return slog.LevelDebug, nil
	case "FATAL":
		return slog.LevelError, nil
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("invalid log level %q: expected DEBUG, INFO, WARN or ERROR", s)
	}
	return lv, nil
}

// LevelName writes a level as log4j names it.
func LevelName(lv slog.Level) string {
	switch {
	case lv <= slog.LevelDebug:
		return "DEBUG"
	case lv <= slog.LevelInfo:
		return "INFO"
	case lv <= slog.LevelWarn:
		return "WARN"
	}
	return "ERROR"
}

// levelHandler filters records by its logger's current level.
type levelHandler struct {
	inner  slog.Handler
	levels *Levels
	own    *loggerLevel // nil for root
}

func (h *levelHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= h.levels.level(h.own) && h.inner.Enabled(ctx, lv)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.inner.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelHandler{inner: h.inner.WithAttrs(attrs), levels: h.levels, own: h.own}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{inner: h.inner.WithGroup(name), levels: h.levels, own: h.own}
}
