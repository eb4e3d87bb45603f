//go:build unix && race

package jetstream_test

// raceEnabled reports that the test binary was built with -race, which
// makes every process of the proof (the emulator and the NATS nodes in
// the test, the bot instances) some 3–4× slower.
const raceEnabled = true
