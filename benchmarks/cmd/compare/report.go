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
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
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
	s.UpdatesPerSec = median(rs, func(r tputResult) float64 { return r.UpdatesPerSec })
	s.CPUPerUpdate = median(rs, func(r tputResult) float64 { return r.CPUPerUpdate })
	s.AllocsPerUpdate = median(rs, func(r tputResult) float64 { return r.AllocsPerUpdate })
	s.BytesPerUpdate = median(rs, func(r tputResult) float64 { return r.BytesPerUpdate })
	s.PeakRSS = median(rs, func(r tputResult) float64 { return r.PeakRSS })
	s.Conns = median(rs, func(r tputResult) float64 { return r.Conns })
	s.EmuCPUPerUpdate = median(rs, func(r tputResult) float64 { return r.EmuCPUPerUpdate })
	s.WarmSec = median(rs, func(r tputResult) float64 { return r.WarmSec })
	for _, r := range rs {
		if r.Err != "" {
			s.failed++
			s.errs = append(s.errs, r.Err)
			continue
		}
		s.Sent = r.Sent
		if r.Abused {
			s.BigStatus, s.BigRSS, s.BigErr, s.WrongStatus, s.WrongHandled = r.BigStatus, r.BigRSS, r.BigErr, r.WrongStatus, r.WrongHandled
		}
	}
	return s
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
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s %s/%s. Run took %s; load average %s at the start, %s at the end.\n\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, res.duration.Round(1e9), res.loadStart, res.loadEnd)
	fmt.Fprintf(w, "| library | version | how it is used |\n|---|---|---|\n")
	for _, name := range cfg.libs {
		l, _ := libs.ByName(name)
		fmt.Fprintf(w, "| %s | %s | %s |\n", l.Name, l.Version(), l.Note)
	}
	fmt.Fprintln(w)

	floorPoll := summarize("floor", res.throughput["floor"])
	if cfg.has("throughput") {
		fmt.Fprintf(w, "## Polling throughput: %d updates over %d chats, each answered with sendMessage, measured after %d warm-up updates (median of %d rounds)\n\n", cfg.updates, cfg.chats, cfg.warmup, cfg.rounds)
		fmt.Fprintf(w, "| library | updates/s | × floor | CPU µs/update | allocs/update | bytes/update | peak RSS MiB | TCP conns opened | emulator CPU µs/update | warm-up s | replies |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, name := range cfg.libs {
			s := summarize(name, res.throughput[name])
			fmt.Fprintf(w, "| %s | %.0f | %s | %.1f | %.1f | %.0f | %.1f | %.0f | %.1f | %.2f | %d%s |\n", name, s.UpdatesPerSec, ratio(s.UpdatesPerSec, floorPoll.UpdatesPerSec),
				s.CPUPerUpdate, s.AllocsPerUpdate, s.BytesPerUpdate, s.PeakRSS, s.Conns, s.EmuCPUPerUpdate, s.WarmSec, s.Sent, errNote(s))
		}
		fmt.Fprintln(w)
	}
	floorHook := summarize("floor", res.webhook["floor"])
	if cfg.has("webhook") {
		fmt.Fprintf(w, "## Webhook: %d updates delivered by the emulator (40 connections, one update in flight per chat) after %d warm-up updates, then (first round) a %d MiB body and a wrong secret (median of %d rounds)\n\n", cfg.updates, cfg.warmup, cfg.bodyMiB, cfg.rounds)
		fmt.Fprintf(w, "| library | updates/s | × floor | CPU µs/update | allocs/update | bytes/update | peak RSS MiB | warm-up s | %d MiB body: status, RSS growth MiB | wrong secret: status, handled |\n|---|---|---|---|---|---|---|---|---|---|\n", cfg.bodyMiB)
		for _, name := range cfg.libs {
			s := summarize(name, res.webhook[name])
			big := fmt.Sprintf("%d, %.0f", s.BigStatus, s.BigRSS)
			if s.BigErr != "" {
				big += " (" + short(s.BigErr) + ")"
			}
			fmt.Fprintf(w, "| %s | %.0f | %s | %.1f | %.1f | %.0f | %.1f | %.2f | %s | %d, %s%s |\n", name, s.UpdatesPerSec, ratio(s.UpdatesPerSec, floorHook.UpdatesPerSec),
				s.CPUPerUpdate, s.AllocsPerUpdate, s.BytesPerUpdate, s.PeakRSS, s.WarmSec, big, s.WrongStatus, yesNo(s.WrongHandled), errNote(s))
		}
		fmt.Fprintln(w)
	}
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

// printTargets compares tidygram with the floor against the project's targets.
func (res *results) printTargets(w io.Writer, cfg *config, floorPoll, floorHook tputSummary) {
	if !slices.Contains(cfg.libs, "tidygram") {
		return
	}
	type row struct {
		name, goal, got string
		ok              bool
	}
	var rows []row
	add := func(name, goal, got string, ok bool) { rows = append(rows, row{name, goal, got, ok}) }
	if cfg.has("throughput") && slices.Contains(cfg.libs, "floor") {
		t := summarize("tidygram", res.throughput["tidygram"])
		add("polling updates/s", "≥ 0.80× floor", ratio(t.UpdatesPerSec, floorPoll.UpdatesPerSec), t.UpdatesPerSec >= 0.8*floorPoll.UpdatesPerSec && t.UpdatesPerSec > 0)
		add("CPU per update", "≤ 1.25× floor", ratio(t.CPUPerUpdate, floorPoll.CPUPerUpdate), t.CPUPerUpdate <= 1.25*floorPoll.CPUPerUpdate && t.CPUPerUpdate > 0)
		add("allocations per update", "≤ floor", fmt.Sprintf("%.1f vs %.1f", t.AllocsPerUpdate, floorPoll.AllocsPerUpdate), t.AllocsPerUpdate <= floorPoll.AllocsPerUpdate && t.AllocsPerUpdate > 0)
	}
	if cfg.has("webhook") && slices.Contains(cfg.libs, "floor") {
		t := summarize("tidygram", res.webhook["tidygram"])
		add("webhook updates/s", "≥ 0.80× floor", ratio(t.UpdatesPerSec, floorHook.UpdatesPerSec), t.UpdatesPerSec >= 0.8*floorHook.UpdatesPerSec && t.UpdatesPerSec > 0)
	}
	for _, r := range res.files {
		if r.Lib == "tidygram" {
			add("upload peak RSS", "< 32 MiB", fmt.Sprintf("%.1f MiB", r.UpRSS), r.UpRSS < 32 && r.UpErr == "")
			add("download peak RSS", "< 32 MiB", fmt.Sprintf("%.1f MiB", r.DownRSS), r.DownRSS < 32 && r.DownErr == "" && r.DownloadedExactly)
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
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.name, r.goal, r.got, yesNo(r.ok))
	}
	fmt.Fprintln(w)
}
