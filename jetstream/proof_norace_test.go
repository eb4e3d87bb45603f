//go:build unix && !race

package jetstream_test

// raceEnabled reports that the test binary was built with -race.
const raceEnabled = false
