//go:build !unix

package main

import "io"

// terminalWidth reports 0: the progress line is printed one per second.
func terminalWidth(io.Writer) int { return 0 }
