package heap

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report for people: totals, the top sites by in-use
// bytes and by in-use objects, and the findings with their fixes.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "heap profile")
	if r.Time != "" {
		fmt.Fprintf(&b, " of %s", r.Time)
	}
	fmt.Fprintf(&b, ": %s in use in %d object(s), %s allocated since start; %d site(s), sampled every %s\n",
		fmtBytes(r.Total[InuseSpace]), r.Total[InuseObjects], fmtBytes(r.Total[AllocSpace]), r.Sites, fmtBytes(r.Period))
	fmt.Fprintf(&b, "runtime: %s\n", r.Runtime)
	b.WriteString("\nTop sites by in-use bytes:\n")
	for _, s := range r.BySpace {
		fmt.Fprintf(&b, "  %10s %8d obj  %s\n", fmtBytes(s.Values[InuseSpace]), s.Values[InuseObjects], s.Where())
	}
	b.WriteString("\nTop sites by in-use objects:\n")
	for _, s := range r.ByCount {
		fmt.Fprintf(&b, "  %8d obj %10s  %s\n", s.Values[InuseObjects], fmtBytes(s.Values[InuseSpace]), s.Where())
	}
	writeFindings(&b, r.Findings)
	b.WriteString("\nOne profile cannot tell a leak from a steady state: compare two (--diff A B, or --watch).\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteText writes the diff for people: totals and the runtime's figures
// at both ends, the sites that are not steady with their verdicts, and
// the findings with their fixes.
func (d *Diff) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "heap: %d profiles", d.Profiles)
	if d.Span > 0 {
		fmt.Fprintf(&b, " over %s (%s – %s)", d.Span.Round(1e9), d.From, d.To)
	}
	fmt.Fprintf(&b, ": in use %s → %s (%s), %s allocated meanwhile\n",
		fmtBytes(d.Before[InuseSpace]), fmtBytes(d.After[InuseSpace]), FormatDelta(d.After[InuseSpace]-d.Before[InuseSpace]),
		fmtBytes(d.After[AllocSpace]-d.Before[AllocSpace]))
	fmt.Fprintf(&b, "runtime at the first: %s\nruntime at the last:  %s\n", d.Runtime[0], d.Runtime[1])
	if r0, r1 := d.Runtime[0], d.Runtime[1]; r0.NumGC >= 0 && r1.NumGC >= 0 {
		fmt.Fprintf(&b, "%d GC(s) ran between them\n", r1.NumGC-r0.NumGC)
	}
	fmt.Fprintf(&b, "\n%d site(s) leaking, %d churning\n", d.Leaks, d.Churn)
	if len(d.Sites) == 0 {
		b.WriteString("  every site steady\n")
	}
	for _, g := range d.Sites {
		rate := ""
		if g.RatePerMin != 0 && (g.Verdict == VerdictLeak || g.Verdict == VerdictGrowing) {
			rate = fmt.Sprintf(" (%s/min)", FormatDelta(int64(g.RatePerMin)))
		}
		fmt.Fprintf(&b, "  %-9s %11s%s  %s\n            %s\n", g.Verdict, FormatDelta(g.InuseDelta), rate, g.Where(), g.Why)
	}
	writeFindings(&b, d.Findings)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFindings(b *strings.Builder, fs []Finding) {
	if len(fs) == 0 {
		b.WriteString("\nNo known heap pattern found.\n")
	}
	for i, f := range fs {
		fmt.Fprintf(b, "\n%d. %s [%s]\n   why: %s\n   fix: %s\n", i+1, f.Title, f.ID, f.Why, f.Fix)
		if len(f.Sites) > 0 { // the worst site's stack; the others are in the list above
			b.WriteString("   stack:")
			for _, fr := range f.Sites[0].Stack {
				fmt.Fprintf(b, "\n     %s", Frame{fr.Func, shortFile(fr.File), fr.Line})
			}
			b.WriteString("\n")
		}
	}
}
