package observe

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLevels(t *testing.T) {
	var out bytes.Buffer
	h := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug - 4})
	lv := NewLevels(slog.LevelInfo)
	a := lv.Logger(h, "a")
	b := lv.Logger(h, "b").With("k", "v")

	a.Debug("hidden")
	a.Info("shown")
	if err := lv.Set("a", slog.LevelDebug); err != nil {
		t.Fatal(err)
	}
	a.Debug("debug a")
	b.Debug("hidden b")
	lv.Set(RootLogger, slog.LevelError)
	b.Warn("hidden warn")
	a.Debug("still debug a") // its own level wins over root
	if err := lv.Reset("a"); err != nil {
		t.Fatal(err)
	}
	a.Warn("hidden after reset")
	b.Error("error b")

	got := out.String()
	for _, want := range []string{"msg=shown", "msg=\"debug a\"", "msg=\"still debug a\"", "msg=\"error b\" logger=b k=v"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Errorf("filtered record logged:\n%s", got)
	}
	if lv.Level("a") != "ERROR" || lv.Level("root") != "ERROR" || strings.Join(lv.Names(), ",") != "root,a,b" {
		t.Errorf("levels %s %s %v", lv.Level("a"), lv.Level("root"), lv.Names())
	}
	if lv.Set("nope", slog.LevelInfo) == nil || lv.Reset(RootLogger) == nil {
		t.Error("unknown logger or root reset accepted")
	}
	for in, want := range map[string]slog.Level{"TRACE": slog.LevelDebug, "warn": slog.LevelWarn, "FATAL": slog.LevelError, "INFO": slog.LevelInfo} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%s) = %v %v", in, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel accepted loud")
	}
}
