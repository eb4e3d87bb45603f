package ops

import (
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"time"

	"github.com/tidygram/tidygram/leak"
)

func (s *Server) pprofIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "tidygram ops: runtime profiles (?debug=1 or 2 for text; go tool pprof reads the default)")
	for _, p := range pprof.Profiles() {
		fmt.Fprintf(w, "  /debug/pprof/%-14s %d\n", p.Name(), p.Count())
	}
	fmt.Fprintf(w, "  /debug/pprof/profile        CPU profile, ?seconds=N (default and limit %s)\n", s.maxProfile)
	fmt.Fprintf(w, "  /debug/pprof/trace          execution trace, ?seconds=N (default 1 s, limit %s)\n", s.maxProfile)
	fmt.Fprintln(w, "  /debug/goroutines           goroutines by owner and stack, ages, diff since start (?format=json)")
	fmt.Fprintln(w, "  /debug/                     the ops page: live charts and leak findings (open /debug/#token=… in a browser)")
}

func (s *Server) pprofProfile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	switch name {
	case "profile":
		s.timed(w, r, s.maxProfile, "cpu.pprof", func() error { return pprof.StartCPUProfile(w) }, pprof.StopCPUProfile)
		return
	case "trace":
		s.timed(w, r, time.Second, "trace.out", func() error { return trace.Start(w) }, trace.Stop)
		return
	}
	p := pprof.Lookup(name)
	if p == nil {
		http.Error(w, "unknown profile "+strconv.Quote(name), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	if q.Get("seconds") != "" {
		http.Error(w, "seconds is supported for profile and trace only; diff two dumps with tidygram leaks --diff", http.StatusBadRequest)
		return
	}
	debug, _ := strconv.Atoi(q.Get("debug"))
	debug = min(max(debug, 0), 2)
	if name == "heap" && q.Get("gc") != "" {
		runtime.GC()
	}
	if debug > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.pprof"`)
	}
	if err := p.WriteTo(w, debug); err != nil {
		s.log.Warn("ops: writing profile", "profile", name, "error", err)
	}
}

// timed runs a profile that lasts ?seconds (default def, at most
// maxProfile), stopping early when the request ends.
func (s *Server) timed(w http.ResponseWriter, r *http.Request, def time.Duration, file string, start func() error, stop func()) {
	d := def
	if v := r.URL.Query().Get("seconds"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			http.Error(w, "seconds: want a positive number", http.StatusBadRequest)
			return
		}
		d = time.Duration(f * float64(time.Second))
	}
	d = min(d, s.maxProfile)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`"`)
	w.Header().Set("X-Profile-Seconds", strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
	if err := start(); err != nil {
		w.Header().Del("Content-Disposition")
		http.Error(w, "cannot start: "+err.Error(), http.StatusInternalServerError)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
	stop()
}

// goroutineView is the JSON form of /debug/goroutines.
type goroutineView struct {
	Taken time.Time `json:"taken"`
	Since time.Time `json:"since"` // when the baseline was taken
	// Ages is true when groups carry states and wait minutes (a debug=2
	// dump with labels: GODEBUG tracebacklabels=1).
	Ages bool `json:"ages"`
	leak.Analysis
	Diff       []leak.Delta `json:"diff"`        // by owner and stack since Since, growing first (at most top)
	OwnersDiff []leak.Delta `json:"owners_diff"` // by owner since Since
}

func (s *Server) goroutines(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	top, err := strconv.Atoi(q.Get("top"))
	if err != nil || top <= 0 {
		top = 20
	}
	now, err := leak.Snapshot()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	v := goroutineView{Taken: time.Now()}
	dump := &leak.Dump{Kind: "goroutine", Debug: 1, Groups: now}
	if leak.TracebackLabels() && q.Get("ages") != "0" {
		if gs, err := leak.Goroutines(); err == nil {
			dump = &leak.Dump{Kind: "goroutine", Debug: 2, Groups: leak.GroupGoroutines(gs)}
			v.Ages = true
		}
	}
	v.Analysis = leak.Analyze(dump, s.diagnoseOptions()...)
	if len(v.Groups) > top {
		v.Groups = v.Groups[:top]
	}
	s.mu.Lock()
	base, since := s.baseline, s.since
	s.mu.Unlock()
	v.Since = since
	v.Diff = leak.Diff(base, now)
	v.Diff = v.Diff[:min(len(v.Diff), top)]
	v.OwnersDiff = leak.DiffOwners(base, now)
	if q.Get("format") == "json" || r.Header.Get("Accept") == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !v.Ages {
		fmt.Fprintln(w, "(no states or ages: run with GODEBUG=tracebacklabels=1 for them)")
	}
	_ = v.WriteText(w, top)
	fmt.Fprintf(w, "\nSince %s (by owner):\n", since.Format(time.RFC3339))
	if len(v.OwnersDiff) == 0 {
		fmt.Fprintln(w, "  no change")
	}
	for _, d := range v.OwnersDiff {
		fmt.Fprintf(w, "  %+6d  %s (%d -> %d)\n", d.Growth(), d.Key, d.Before, d.After)
	}
}

// diagnoseOptions are the leak catalogue's options: the bot's pool size,
// then WithDiagnose's.
func (s *Server) diagnoseOptions() []leak.DiagnoseOption {
	if st := s.metrics.bot(); st != nil && st.IdleConns > 0 {
		return append([]leak.DiagnoseOption{leak.WithPoolSize(st.IdleConns)}, s.diag...)
	}
	return s.diag
}

// slogPrinter adapts a slog.Logger to promhttp's error logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn("ops: metrics: " + fmt.Sprint(v...)) }

func slogLogger(l *slog.Logger) *log.Logger { return slog.NewLogLogger(l.Handler(), slog.LevelWarn) }
