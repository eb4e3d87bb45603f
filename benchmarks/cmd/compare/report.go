package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/tidygram/tidygram/benchmarks/internal/libs"
)

// median returns the median of f over rs (0 for none).
func median(rs []tputResult, f func(tputResult) float64) float64 {
	var v []float64
	for _, r := range rs {
		if r.Err == "" {
			v = append(v, f(r))
		}
	}
	return medianOf(v)
}

// medianOf returns the median of v (0 for none), sorting v.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// pairedRatios returns the median, lowest and highest of f(t)/f(f) over
// the rounds both a and b completed, each ratio taken within one round:
// the two runs of a round are adjacent in time, so a machine that speeds
// up or slows down between rounds moves both. ok is false without such a
// round.
func pairedRatios(a, b []tputResult, f func(tputResult) float64) (med, lo, hi float64, ok bool) {
	var rs []float64
	for _, x := range a {
		for _, y := range b {
			if x.Round == y.Round && x.Err == "" && y.Err == "" && f(y) > 0 {
				rs = append(rs, f(x)/f(y))
			}
		}
	}
	if len(rs) == 0 {
		return 0, 0, 0, false
	}
	med = medianOf(rs) // sorts rs
	return med, rs[0], rs[len(rs)-1], true
}

// tputSummary is the median of a library's rounds.
type tputSummary struct {
	tputResult
	rounds, failed int
	errs           []string
}

func summarize(lib string, rs []tputResult) tputSummary {
	s := tputSummary{rounds: len(rs)}
	s.Lib = lib
	med := func(f func(tputResult) float64) float64 { return median(rs, f) }
	s.UpdatesPerSec = med(func(r tputResult) float64 { return r.UpdatesPerSec })
	s.CPUPerUpdate = med(func(r tputResult) float64 { return r.CPUPerUpdate })
	s.AllocsPerUpdate = med(func(r tputResult) float64 { return r.AllocsPerUpdate })
	s.BytesPerUpdate = med(func(r tputResult) float64 { return r.BytesPerUpdate })
	s.PeakRSS = med(func(r tputResult) float64 { return r.PeakRSS })
	s.Conns = med(func(r tputResult) float64 { return r.Conns })
	s.ServerCPUPerUpdate = med(func(r tputResult) float64 { return r.ServerCPUPerUpdate })
	s.PollsPerUpdate = med(func(r tputResult) float64 { return r.PollsPerUpdate })
	s.RedeliveredPerUpdate = med(func(r tputResult) float64 { return r.RedeliveredPerUpdate })
	s.WarmSec = med(func(r tputResult) float64 { return r.WarmSec })
	for _, r := range rs {
		if r.Err != "" {
			s.failed++
			s.errs = append(s.errs, r.Err)
			continue
		}
		s.Sent, s.ChatsShort, s.ChatsOver = r.Sent, max(s.ChatsShort, r.ChatsShort), max(s.ChatsOver, r.ChatsOver)
		s.Refused = max(s.Refused, r.Refused)
		if r.LastUnknown != "" {
			s.LastUnknown = r.LastUnknown
		}
		if r.Abused {
			s.BigStatus, s.BigRSS, s.BigErr, s.WrongStatus, s.WrongHandled = r.BigStatus, r.BigRSS, r.BigErr, r.WrongStatus, r.WrongHandled
		}
	}
	return s
}

// repliesCell is the replies the server counted, with what was wrong.
func repliesCell(s tputSummary) string {
	out := fmt.Sprint(s.Sent)
	var notes []string
	if s.ChatsShort > 0 || s.ChatsOver > 0 {
		notes = append(notes, fmt.Sprintf("%d chats short, %d over", s.ChatsShort, s.ChatsOver))
	}
	if s.Refused > 0 {
		notes = append(notes, fmt.Sprintf("%d requests refused", s.Refused))
	}
	if s.LastUnknown != "" {
		notes = append(notes, "called "+s.LastUnknown)
	}
	if len(notes) > 0 {
		out += " (" + strings.Join(notes, "; ") + ")"
	}
	return out + errNote(s)
}

// serverCell is the server's CPU per update and its share of the bot's.
func serverCell(r tputResult) string {
	if r.CPUPerUpdate <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f (%.2f×)", r.ServerCPUPerUpdate, r.serverShare())
}

// serverCheck looks at every successful throughput run: the largest
// server share and the runs at or above maxServerShare.
func (res *results) serverCheck(cfg *config) (runs int, worst tputResult, flagged []tputResult) {
	for _, m := range []map[string][]tputResult{res.throughput, res.webhook} {
		for _, lib := range cfg.libs {
			for _, r := range m[lib] {
				if r.Err != "" || r.CPUPerUpdate <= 0 {
					continue
				}
				runs++
				if r.serverShare() > worst.serverShare() {
					worst = r
				}
				if r.serverShare() >= maxServerShare {
					flagged = append(flagged, r)
				}
			}
		}
	}
	return runs, worst, flagged
}

func runName(r tputResult) string { return fmt.Sprintf("%s %s round %d", r.Lib, r.Mode, r.Round) }

// printServerCheck states in the header whether the server stayed cheap.
func (res *results) printServerCheck(w io.Writer, cfg *config) {
	runs, worst, flagged := res.serverCheck(cfg)
	if runs == 0 {
		return
	}
	if len(flagged) == 0 {
		fmt.Fprintf(w, "Server: the throughput runs use the fake Bot API server ([internal/fakeapi](internal/fakeapi)) in a process of its own. "+
			"Its CPU time (getrusage of that process, from the end of the warm-up to the last reply) was under 1/3 of the bot's in all %d runs: "+
			"at most %.2f× (%s, %.1f µs against %.1f µs per update).\n\n",
			runs, worst.serverShare(), runName(worst), worst.ServerCPUPerUpdate, worst.CPUPerUpdate)
		return
	}
	var names []string
	for _, r := range flagged {
		names = append(names, fmt.Sprintf("%s %.2f×", runName(r), r.serverShare()))
	}
	fmt.Fprintf(w, "Server: the throughput runs use the fake Bot API server ([internal/fakeapi](internal/fakeapi)) in a process of its own "+
		"(getrusage of that process, from the end of the warm-up to the last reply). **Flagged: in %d of %d runs it used 1/3 or more of the bot's CPU**, "+
		"so those runs measure the server as much as the bot: %s.\n\n", len(flagged), runs, strings.Join(names, ", "))
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func errNote(s tputSummary) string {
	if s.failed == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d/%d rounds failed: %s)", s.failed, s.rounds, short(s.errs[0]))
}

func short(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadavg returns the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], "/")
}

func (res *results) print(w io.Writer, cfg *config) {
	fmt.Fprintf(w, "# tidygram benchmarks, %s\n\n", res.start.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s %s/%s. Run took %s; load average %s at the start, %s after the throughput rounds, %s at the end.\n\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, res.duration.Round(1e9), res.loadStart, res.loadTput, res.loadEnd)
	res.printServerCheck(w, cfg)
	fmt.Fprintf(w, "| library | version | how it is used |\n|---|---|---|\n")
	for _, name := range cfg.libs {
		l, _ := libs.ByName(name)
		fmt.Fprintf(w, "| %s | %s | %s |\n", l.Name, l.Version(), l.Note)
	}
	fmt.Fprintln(w)

	floorPoll := summarize("floor", res.throughput["floor"])
	if cfg.has("throughput") {
		fmt.Fprintf(w, "## Polling throughput (S1): %d updates over %d chats, each answered with sendMessage, measured after %d warm-up updates, fake server (median of %d rounds)\n\n", cfg.updates, cfg.chats, cfg.warmup, cfg.rounds)
		fmt.Fprintf(w, "| library | updates/s | × floor | CPU µs/update | server CPU µs/update (× bot) | allocs/update | KiB/update | peak RSS MiB | getUpdates/update | redelivered/update | TCP conns opened | warm-up s | replies |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, name := range cfg.libs {
			s := summarize(name, res.throughput[name])
			fmt.Fprintf(w, "| %s | %.0f | %s | %.1f | %s | %.1f | %.2f | %.1f | %.4f | %.4f | %.0f | %.2f | %s |\n", name, s.UpdatesPerSec, ratio(s.UpdatesPerSec, floorPoll.UpdatesPerSec),
				s.CPUPerUpdate, serverCell(s.tputResult), s.AllocsPerUpdate, s.BytesPerUpdate/1024, s.PeakRSS, s.PollsPerUpdate, s.RedeliveredPerUpdate, s.Conns, s.WarmSec, repliesCell(s))
		}
		fmt.Fprintln(w)
	}
	floorHook := summarize("floor", res.webhook["floor"])
	if cfg.has("webhook") {
		fmt.Fprintf(w, "## Webhook: %d updates posted by the fake server (40 connections, one update in flight per chat) after %d warm-up updates, then (first round) a %d MiB body and a wrong secret (median of %d rounds)\n\n", cfg.updates, cfg.warmup, cfg.bodyMiB, cfg.rounds)
		fmt.Fprintf(w, "| library | updates/s | × floor | CPU µs/update | server CPU µs/update (× bot) | allocs/update | KiB/update | peak RSS MiB | redelivered/update | TCP conns opened | warm-up s | replies | %d MiB body: status, RSS growth MiB | wrong secret: status, handled |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n", cfg.bodyMiB)
		for _, name := range cfg.libs {
			s := summarize(name, res.webhook[name])
			big := fmt.Sprintf("%d, %.0f", s.BigStatus, s.BigRSS)
			if s.BigErr != "" {
				big += " (" + short(s.BigErr) + ")"
			}
			fmt.Fprintf(w, "| %s | %.0f | %s | %.1f | %s | %.1f | %.2f | %.1f | %.4f | %.0f | %.2f | %s | %s | %d, %s |\n", name, s.UpdatesPerSec, ratio(s.UpdatesPerSec, floorHook.UpdatesPerSec),
				s.CPUPerUpdate, serverCell(s.tputResult), s.AllocsPerUpdate, s.BytesPerUpdate/1024, s.PeakRSS, s.RedeliveredPerUpdate, s.Conns, s.WarmSec, repliesCell(s), big, s.WrongStatus, yesNo(s.WrongHandled))
		}
		fmt.Fprintln(w)
	}
	res.printServerRuns(w, cfg)
	if cfg.has("stop") {
		fmt.Fprintf(w, "## Stop: cancel with a %s poll pending; restart after %d of %d updates (%d chats, %s of work per update)\n\n",
			cfg.pollTimeout, cfg.restartUpdates/4, cfg.restartUpdates, cfg.restartChats, cfg.restartDelay)
		fmt.Fprintf(w, "| library | stop ms | goroutines left at return / after 1 s | what is left | restart: handled never | handled twice |\n|---|---|---|---|---|---|\n")
		for _, r := range res.stop {
			stop := fmt.Sprintf("%.1f", r.StopMS)
			if r.StopMS < 0 {
				stop = "> 90 s"
			}
			fmt.Fprintf(w, "| %s | %s | %d / %d | %s | %d | %d |%s\n", r.Lib, stop, r.GoReturn, r.GoAfter, strings.Join(r.Leftovers, ", "), r.Lost, r.Dup, errCell(r.Err))
		}
		fmt.Fprintln(w)
	}
	if cfg.has("faults") {
		fmt.Fprintf(w, "## Faults: getUpdates fails (4%% 502, 4%% cut connection, 2%% 429 retry_after 1 s, 2%% 1 s hang) for %d poll cycles or %s while updates trickle in\n\n", cfg.faultCycles, cfg.faultTime)
		fmt.Fprintf(w, "| library | poll cycles | faults | seconds | goroutines start → max → end | TCP conns opened | max open | updates pushed | never handled |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range res.faults {
			fmt.Fprintf(w, "| %s | %d | %d | %.1f | %d → %d → %d | %d | %d | %d | %d |%s\n", r.Lib, r.Cycles, r.Faults, r.Seconds, r.GoStart, r.GoMax, r.GoEnd, r.Conns, r.MaxOpen, r.Pushed, r.Lost, errCell(r.Err))
		}
		fmt.Fprintln(w)
	}
	if cfg.has("files") {
		fmt.Fprintf(w, "## Files: upload then download a %d MiB file (each in a fresh process)\n\n", cfg.fileMiB)
		fmt.Fprintf(w, "| library | upload peak RSS MiB | upload s | download peak RSS MiB | download s | downloaded whole |\n|---|---|---|---|---|---|\n")
		for _, r := range res.files {
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %s |%s\n", r.Lib, r.UpRSS, r.UpSec, r.DownRSS, r.DownSec, yesNo(r.DownloadedExactly), errCell(r.UpErr+" "+r.DownErr))
		}
		fmt.Fprintln(w)
	}
	res.printTargets(w, cfg, floorPoll, floorHook)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func errCell(err string) string {
	if strings.TrimSpace(err) == "" {
		return ""
	}
	return " " + short(strings.TrimSpace(err))
}

// printServerRuns lists, for every throughput run, the bot's and the
// server's CPU per update.
func (res *results) printServerRuns(w io.Writer, cfg *config) {
	if !cfg.has("throughput") && !cfg.has("webhook") {
		return
	}
	fmt.Fprintf(w, "## CPU per update in every throughput run: bot / server µs (server × bot)\n\n| library | mode |")
	for i := range cfg.rounds {
		fmt.Fprintf(w, " round %d |", i+1)
	}
	fmt.Fprintf(w, "\n|---|---|%s\n", strings.Repeat("---|", cfg.rounds))
	for _, mode := range []struct {
		name, workload string
		runs           map[string][]tputResult
	}{{"poll", "throughput", res.throughput}, {"webhook", "webhook", res.webhook}} {
		if !cfg.has(mode.workload) {
			continue
		}
		for _, lib := range cfg.libs {
			fmt.Fprintf(w, "| %s | %s |", lib, mode.name)
			for _, r := range mode.runs[lib] {
				switch {
				case r.Err != "":
					fmt.Fprintf(w, " failed |")
				case r.serverShare() >= maxServerShare:
					fmt.Fprintf(w, " %.1f / %.1f (**%.2f×**) |", r.CPUPerUpdate, r.ServerCPUPerUpdate, r.serverShare())
				default:
					fmt.Fprintf(w, " %.1f / %.1f (%.2f×) |", r.CPUPerUpdate, r.ServerCPUPerUpdate, r.serverShare())
				}
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w)
}

// printTargets compares tidygram with the floor against
// the performance goals and the behaviour targets.
func (res *results) printTargets(w io.Writer, cfg *config, floorPoll, floorHook tputSummary) {
	if !slices.Contains(cfg.libs, "tidygram") {
		return
	}
	type row struct {
		name, goal, got, met string
	}
	var rows []row
	add := func(name, goal, got string, ok bool) { rows = append(rows, row{name, goal, got, yesNo(ok)}) }
	// atMost adds a goal "tidygram ≤ limit × floor" (atLeast: ≥).
	cmp := func(name string, t, f, limit float64, unit string, atLeast bool) {
		goal, ok := fmt.Sprintf("≤ %.2f× floor", limit), t > 0 && f > 0 && t <= limit*f
		if atLeast {
			goal, ok = fmt.Sprintf("≥ %.2f× floor", limit), t > 0 && f > 0 && t >= limit*f
		}
		got := ratio(t, f)
		if unit != "" {
			got += fmt.Sprintf(" (%.1f vs %.1f %s)", t, f, unit)
		}
		add(name, goal, got, ok)
	}
	report := func(name string, t, f float64, format string) {
		rows = append(rows, row{name, "reported", fmt.Sprintf(format+" vs floor "+format, t, f), "–"})
	}
	hasFloor := slices.Contains(cfg.libs, "floor")
	if cfg.has("throughput") && hasFloor {
		t := summarize("tidygram", res.throughput["tidygram"])
		cmp("S1 polling updates/s", t.UpdatesPerSec, floorPoll.UpdatesPerSec, 0.9, "", true)
		cmp("S1 CPU per update", t.CPUPerUpdate, floorPoll.CPUPerUpdate, 1.1, "µs", false)
		// The same two figures round by round: how far the machine's
		// drift between rounds moved the ratios above.
		for _, p := range []struct {
			name string
			f    func(tputResult) float64
		}{
			{"S1 polling updates/s", func(r tputResult) float64 { return r.UpdatesPerSec }},
			{"S1 CPU per update", func(r tputResult) float64 { return r.CPUPerUpdate }},
		} {
			if med, lo, hi, ok := pairedRatios(res.throughput["tidygram"], res.throughput["floor"], p.f); ok {
				report := fmt.Sprintf("%.2f× (rounds %.2f–%.2f×)", med, lo, hi)
				rows = append(rows, row{p.name + ", median of the per-round ratios", "reported", report, "–"})
			}
		}
		cmp("S1 mallocs per update", t.AllocsPerUpdate, floorPoll.AllocsPerUpdate, 1.1, "", false)
		cmp("S1 KiB allocated per update", t.BytesPerUpdate/1024, floorPoll.BytesPerUpdate/1024, 1.2, "KiB", false)
		cmp("S1 peak RSS", t.PeakRSS, floorPoll.PeakRSS, 1.25, "MiB", false)
		report("S1 getUpdates calls per update", t.PollsPerUpdate, floorPoll.PollsPerUpdate, "%.4f")
		report("S1 updates redelivered per update", t.RedeliveredPerUpdate, floorPoll.RedeliveredPerUpdate, "%.4f")
	}
	if cfg.has("throughput") && slices.Contains(cfg.libs, "tidygram/bare") {
		// what the guarantees cost: the leak check (tidygram against
		// tidygram/bare) and with metrics on too (tidygram/metrics)
		bare := summarize("tidygram/bare", res.throughput["tidygram/bare"]).CPUPerUpdate
		t := summarize("tidygram", res.throughput["tidygram"]).CPUPerUpdate
		add("S1 CPU of the leak check (tidygram vs tidygram/bare)", "≤ 1.05×", fmt.Sprintf("%s (%.1f vs %.1f µs)", ratio(t, bare), t, bare), t > 0 && bare > 0 && t <= 1.05*bare)
		if slices.Contains(cfg.libs, "tidygram/metrics") {
			m := summarize("tidygram/metrics", res.throughput["tidygram/metrics"]).CPUPerUpdate
			add("S1 CPU of leak check + metrics (tidygram/metrics vs tidygram/bare)", "≤ 1.05×", fmt.Sprintf("%s (%.1f vs %.1f µs)", ratio(m, bare), m, bare), m > 0 && bare > 0 && m <= 1.05*bare)
		}
	}
	if cfg.has("webhook") && hasFloor {
		t := summarize("tidygram", res.webhook["tidygram"])
		cmp("webhook updates/s", t.UpdatesPerSec, floorHook.UpdatesPerSec, 0.9, "", true)
	}
	var floorFiles fileResult
	for _, r := range res.files {
		if r.Lib == "floor" {
			floorFiles = r
		}
	}
	for _, r := range res.files {
		if r.Lib != "tidygram" || !hasFloor {
			continue
		}
		name := fmt.Sprintf("peak RSS, %d MiB ", cfg.fileMiB)
		if r.UpErr != "" {
			add(name+"upload", "≤ 1.25× floor", "failed: "+short(r.UpErr), false)
		} else {
			cmp(name+"upload", r.UpRSS, floorFiles.UpRSS, 1.25, "MiB", false)
		}
		if r.DownErr != "" || !r.DownloadedExactly {
			add(name+"download", "≤ 1.25× floor", "failed: "+short(r.DownErr), false)
		} else {
			cmp(name+"download", r.DownRSS, floorFiles.DownRSS, 1.25, "MiB", false)
		}
	}
	for _, r := range res.stop {
		if r.Lib == "tidygram" {
			add("goroutines left after stop", "0", fmt.Sprintf("%d at return, %d after 1 s", r.GoReturn, r.GoAfter), r.GoReturn <= 0 && r.GoAfter <= 0 && r.Err == "")
			add("stop with a poll pending", "< 100 ms", fmt.Sprintf("%.1f ms", r.StopMS), r.StopMS >= 0 && r.StopMS < 100 && r.Err == "")
			add("updates lost across a restart", "0", fmt.Sprintf("%d (duplicates %d)", r.Lost, r.Dup), r.Lost == 0 && r.Err == "")
		}
	}
	for _, r := range res.faults {
		if r.Lib == "tidygram" {
			add("updates lost under poll faults", "0", fmt.Sprint(r.Lost), r.Lost == 0 && r.Err == "")
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "## tidygram against its targets (same run)\n\n| target | goal | measured | met |\n|---|---|---|---|\n")
	var missed []string
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.name, r.goal, r.got, r.met)
		if r.met == "no" {
			missed = append(missed, fmt.Sprintf("%s %s (goal %s)", r.name, r.got, r.goal))
		}
	}
	fmt.Fprintln(w)
	if len(missed) > 0 {
		fmt.Fprintf(w, "Missed: %s.\n\n", strings.Join(missed, "; "))
	}
}
