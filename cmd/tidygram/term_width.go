package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// terminalWidth returns the width in columns of the terminal w writes to,
// or 0 when w is not a terminal (the progress line is then printed once a
// second instead of rewriting itself).
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return cols
}
