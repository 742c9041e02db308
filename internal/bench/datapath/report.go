package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// metric is one number taken from every sample.
type metric struct {
	title  string
	unit   string
	higher bool // higher is better
	get    func(*sample) float64
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// cpuNote says whose CPU time the CPU metrics count.
const cpuNote = "this process, brokers included unless -broker-process, plus the ssh processes of ssh -L; a proxy's or bastion's CPU is not counted"

var metrics = []metric{
	{"franz-go produce throughput", "MB/s", true, func(s *sample) float64 { return s.franz.mbps }},
	{"franz-go client-side CPU time per MB produced (" + cpuNote + ")", "µs/MB", false, func(s *sample) float64 { return s.franz.cpuPerMB }},
	{"franz-go synchronous produce latency p50", "µs", false, func(s *sample) float64 { return micros(s.franz.p50) }},
	{"franz-go synchronous produce latency p99", "µs", false, func(s *sample) float64 { return micros(s.franz.p99) }},
	{"sarama SyncProducer throughput", "MB/s", true, func(s *sample) float64 { return s.sarama.mbps }},
	{"sarama client-side CPU time per MB produced", "µs/MB", false, func(s *sample) float64 { return s.sarama.cpuPerMB }},
	{"sarama SendMessage latency p50", "µs", false, func(s *sample) float64 { return micros(s.sarama.p50) }},
	{"sarama SendMessage latency p99", "µs", false, func(s *sample) float64 { return micros(s.sarama.p99) }},
	{"franz-go consume throughput", "MB/s", true, func(s *sample) float64 { return s.consume.mbps }},
	{"franz-go client-side CPU time per MB consumed", "µs/MB", false, func(s *sample) float64 { return s.consume.cpuPerMB }},
}

// Indexes into metrics, for the goals.
const (
	mFranzThroughput = iota
	mFranzCPU
	mFranzP50
	mFranzP99
	mSaramaThroughput
	mSaramaCPU
	mSaramaP50
	mSaramaP99
	mConsumeThroughput
	mConsumeCPU
)

// summary is a metric over the rounds of one variant: the median and the
// interquartile range, of the values and of the per-round ratios to direct.
type summary struct {
	n                       int // rounds measured
	median, lo, hi          float64
	ratios                  int // rounds with a ratio
	ratio, ratioLo, ratioHi float64
}

func summarize(res *results, name string, m metric) summary {
	return summarizeAgainst(res, name, "direct", m)
}

// summarizeAgainst is summarize with the ratios taken to base, round by
// round.
func summarizeAgainst(res *results, name, base string, m metric) summary {
	var vals, ratios []float64
	for round, s := range res.samples[name] {
		if s == nil {
			continue
		}
		v := m.get(s)
		vals = append(vals, v)
		if d := res.samples[base]; d != nil && d[round] != nil && m.get(d[round]) > 0 {
			ratios = append(ratios, v/m.get(d[round]))
		}
	}
	sum := summary{n: len(vals), ratios: len(ratios)}
	if len(vals) > 0 {
		sum.median, sum.lo, sum.hi = quantile(vals, 0.5), quantile(vals, 0.25), quantile(vals, 0.75)
	}
	if len(ratios) > 0 {
		sum.ratio, sum.ratioLo, sum.ratioHi = quantile(ratios, 0.5), quantile(ratios, 0.25), quantile(ratios, 0.75)
	}
	return sum
}

// quantile returns the q-quantile of v, interpolating linearly between
// the two nearest values (so the median of an even count is the mean of
// the middle two).
func quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

func median(v []float64) float64 { return quantile(v, 0.5) }

// report prints the machine, the run's parameters, a table per metric and
// the goals.
func report(w io.Writer, cfg config, res *results, took time.Duration) {
	fmt.Fprintf(w, "\nkafkanat data-path benchmark: %d rounds, variants interleaved and rotated (%s)\n", cfg.rounds, strings.Join(cfg.variants, " "))
	fmt.Fprintf(w, "machine: %s %s/%s, %d CPUs (GOMAXPROCS %d), %s; load average %s at start, %s at end\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), res.loadStart, loadAverage())
	fmt.Fprintf(w, "per variant: a %d-broker kfake cluster (records acknowledged, not stored), topic %q with %d partitions led in turn by the brokers\n", cfg.brokers, topic, cfg.partitions)
	fmt.Fprintf(w, "per variant and round: throughput bursts of %v of random uncompressed %d-byte records (franz-go: async Produce then Flush; sarama: SendMessages of %d),\n", cfg.duration, cfg.size, saramaChunk)
	fmt.Fprintf(w, "  latency bursts of %v of synchronous single-record produces (franz-go: ProduceSync; sarama: SendMessage)\n", cfg.latencyFor)
	fmt.Fprintf(w, "took %v\n", took.Round(time.Second))
	for _, v := range cfg.variants {
		if why, ok := res.skipped[v]; ok {
			fmt.Fprintf(w, "SKIPPED %s: %s\n", v, why)
		}
	}
	for _, f := range res.failures {
		fmt.Fprintf(w, "FAILED %s\n", f)
	}
	fmt.Fprintln(w, "\nmedian over rounds [interquartile range]; ×direct: the ratio to direct within each round, median [interquartile range]")
	for _, m := range metrics {
		better := "lower is better"
		if m.higher {
			better = "higher is better"
		}
		fmt.Fprintf(w, "\n%s (%s, %s)\n", m.title, m.unit, better)
		for _, v := range cfg.variants {
			s := summarize(res, v, m)
			if s.n == 0 || s.hi == 0 {
				fmt.Fprintf(w, "  %-18s %s\n", v, "no data")
				continue
			}
			fmt.Fprintf(w, "  %-18s %9.1f  [%9.1f – %9.1f]", v, s.median, s.lo, s.hi)
			if v != "direct" && s.ratios > 0 {
				fmt.Fprintf(w, "   %5.2fx  [%5.2f – %5.2f]", s.ratio, s.ratioLo, s.ratioHi)
			}
			fmt.Fprintln(w)
		}
		if m.unit == "µs" {
			fmt.Fprintf(w, "  (latency samples per round, median: %s)\n", sampleCounts(res, cfg, m))
		}
	}
	fmt.Fprintln(w, "\ngoals (kafkanat with a mapping rule, franz-go):")
	for _, g := range goals(res) {
		fmt.Fprintln(w, "  "+g)
	}
	if lines := sshGoals(res); len(lines) > 0 {
		fmt.Fprintln(w, "\nSSH (issue 11; ratios of per-round values, median [interquartile range]):")
		for _, g := range lines {
			fmt.Fprintln(w, "  "+g)
		}
	}
	for _, v := range cfg.variants {
		if lines := res.costs[v]; len(lines) > 0 {
			fmt.Fprintf(w, "\nwhat an open conn costs (%d conns to one broker through the sshd of variant %s, each with a 4-byte Read pending; this process's goroutines, heap and stacks after a GC):\n", cfg.connCost, v)
			for _, l := range lines {
				fmt.Fprintf(w, "  %-22s %s\n", l.name, l.what)
			}
		}
	}
}

// sshGoals compares the SSH variants that ran: kafkanat's ssh:// route
// against direct, against OpenSSH's ssh -L, and with and without quick
// ACKs.
func sshGoals(res *results) []string {
	ran := func(v string) bool { return summarize(res, v, metrics[mFranzThroughput]).n > 0 }
	ratio := func(a, b string, m int) string {
		s := summarizeAgainst(res, a, b, metrics[m])
		if s.ratios == 0 {
			return "no data"
		}
		return fmt.Sprintf("%.3fx [%.3f – %.3f]", s.ratio, s.ratioLo, s.ratioHi)
	}
	value := func(a, b string, m int) float64 { return summarizeAgainst(res, a, b, metrics[m]).ratio }
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	var lines []string
	if ran("ssh") {
		lines = append(lines,
			fmt.Sprintf("ssh vs direct: franz-go p99 %s (goal <= 3x: %s), p50 %s, produce %s, consume %s", ratio("ssh", "direct", mFranzP99),
				mark(value("ssh", "direct", mFranzP99) <= 3), ratio("ssh", "direct", mFranzP50), ratio("ssh", "direct", mFranzThroughput), ratio("ssh", "direct", mConsumeThroughput)),
			fmt.Sprintf("ssh vs direct: sarama p99 %s, p50 %s", ratio("ssh", "direct", mSaramaP99), ratio("ssh", "direct", mSaramaP50)))
		if ran("ssh-no-quickack") {
			lines = append(lines,
				fmt.Sprintf("ssh vs ssh-no-quickack: franz-go p99 %s, p50 %s (goal: p50 unchanged or better: %s); sarama p99 %s, p50 %s", ratio("ssh", "ssh-no-quickack", mFranzP99),
					ratio("ssh", "ssh-no-quickack", mFranzP50), mark(value("ssh", "ssh-no-quickack", mFranzP50) <= 1.05),
					ratio("ssh", "ssh-no-quickack", mSaramaP99), ratio("ssh", "ssh-no-quickack", mSaramaP50)),
				fmt.Sprintf("ssh-no-quickack vs direct: franz-go p99 %s, p50 %s", ratio("ssh-no-quickack", "direct", mFranzP99), ratio("ssh-no-quickack", "direct", mFranzP50)))
		}
		for _, l := range []string{"ssh-L", "ssh-L-gcm"} {
			if ran(l) {
				lines = append(lines, fmt.Sprintf("ssh vs %s: produce %s, consume %s, consume CPU/MB %s, produce CPU/MB %s, p50 %s, p99 %s", l,
					ratio("ssh", l, mFranzThroughput), ratio("ssh", l, mConsumeThroughput), ratio("ssh", l, mConsumeCPU),
					ratio("ssh", l, mFranzCPU), ratio("ssh", l, mFranzP50), ratio("ssh", l, mFranzP99)))
			}
		}
		if ran("ssh-L-gcm") {
			lines = append(lines, fmt.Sprintf("consume CPU per MB within 1.2x of ssh -L with the same cipher: %.3fx  %s",
				value("ssh", "ssh-L-gcm", mConsumeCPU), mark(value("ssh", "ssh-L-gcm", mConsumeCPU) <= 1.2)))
		}
	}
	if ran("ssh-go") && ran("ssh-go-no-quickack") {
		lines = append(lines, fmt.Sprintf("quick ACKs with a bastion that sends promptly, ssh-go vs ssh-go-no-quickack: p50 %s, p99 %s, produce %s, produce CPU/MB %s, consume %s, consume CPU/MB %s",
			ratio("ssh-go", "ssh-go-no-quickack", mFranzP50), ratio("ssh-go", "ssh-go-no-quickack", mFranzP99),
			ratio("ssh-go", "ssh-go-no-quickack", mFranzThroughput), ratio("ssh-go", "ssh-go-no-quickack", mFranzCPU),
			ratio("ssh-go", "ssh-go-no-quickack", mConsumeThroughput), ratio("ssh-go", "ssh-go-no-quickack", mConsumeCPU)))
	}
	return lines
}

// sampleCounts lists the median number of latency samples per variant for
// the client m measures.
func sampleCounts(res *results, cfg config, m metric) string {
	var parts []string
	for _, v := range cfg.variants {
		var ns []float64
		for _, s := range res.samples[v] {
			if s == nil {
				continue
			}
			c := s.franz
			if strings.HasPrefix(m.title, "sarama") {
				c = s.sarama
			}
			ns = append(ns, float64(c.n))
		}
		if len(ns) > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", v, median(ns)))
		}
	}
	return strings.Join(parts, ", ")
}

// goals checks the targets and returns one line per goal. The
// external hop to beat is socat at its best of the socat variants that
// ran; direct-again, when it ran, shows how close to 1.00x two identical
// paths measure.
func goals(res *results) []string {
	thr, cpu, p50 := metrics[mFranzThroughput], metrics[mFranzCPU], metrics[mFranzP50]
	kt, kl := summarize(res, "kafkanat", thr), summarize(res, "kafkanat", p50)
	if kt.ratios == 0 || kl.ratios == 0 {
		return []string{"not evaluated: kafkanat and direct must both have run"}
	}
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	lines := []string{
		fmt.Sprintf("throughput >= 0.98x direct: %.3fx  %s", kt.ratio, mark(kt.ratio >= 0.98)),
		fmt.Sprintf("p50 latency <= 1.05x direct: %.3fx  %s", kl.ratio, mark(kl.ratio <= 1.05)),
	}
	if kc := summarize(res, "kafkanat", cpu); kc.ratios > 0 {
		lines = append(lines, fmt.Sprintf("(CPU per MB produced, kafkanat vs direct: %.3fx [%.3f – %.3f])", kc.ratio, kc.ratioLo, kc.ratioHi))
	}
	if at, al := summarize(res, "direct-again", thr), summarize(res, "direct-again", p50); at.ratios > 0 && al.ratios > 0 {
		lines = append(lines, fmt.Sprintf("(noise floor, direct-again vs direct: throughput %.3fx [%.3f – %.3f], p50 %.3fx [%.3f – %.3f])",
			at.ratio, at.ratioLo, at.ratioHi, al.ratio, al.ratioLo, al.ratioHi))
	}
	hop, best := "", summary{}
	for _, v := range []string{"socat", "socat-nodelay"} {
		if s := summarize(res, v, thr); s.ratios > 0 && (hop == "" || s.ratio > best.ratio) {
			hop, best = v, s
		}
	}
	if hop == "" {
		return append(lines, "ahead of the external hop: not evaluated (no socat variant ran)")
	}
	hl := summarize(res, hop, p50)
	return append(lines,
		fmt.Sprintf("throughput ahead of the external hop (%s): %.3fx vs %.3fx  %s", hop, kt.ratio, best.ratio, mark(kt.ratio > best.ratio)),
		fmt.Sprintf("p50 latency ahead of the external hop (%s): %.3fx vs %.3fx  %s", hop, kl.ratio, hl.ratio, mark(kl.ratio < hl.ratio)))
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "CPU model
// unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}

// loadAverage is the 1, 5 and 15 minute load average, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// us formats d in microseconds for progress lines.
func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", micros(d)) }
