package x12

import (
	"errors"
	"testing"
	"time"
)

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" when invalid
	}{
		{"150", "150"}, {"150.5", "150.5"}, {"-12.75", "-12.75"}, {".5", "0.5"}, {"5.", "5"}, {"0", "0"},
		{"0.10", "0.1"}, {"123456789012345.67", "123456789012345.67"},
		{"", ""}, {"-", ""}, {".", ""}, {"+5", ""}, {"1e5", ""}, {"1,000", ""}, {"1.2.3", ""}, {" 1", ""}, {"--1", ""}, {"1-", ""},
	} {
		d, err := ParseAmount(tc.in)
		if tc.want == "" {
			if err == nil || !errors.Is(err, ErrInvalidValue) {
				t.Errorf("ParseAmount(%q) = %v, %v; want ErrInvalidValue", tc.in, d, err)
			}
			if Amount(tc.in).IsValid() {
				t.Errorf("Amount(%q).IsValid() = true", tc.in)
			}
			continue
		}
		if err != nil || d.String() != tc.want {
			t.Errorf("ParseAmount(%q) = %v, %v; want %s", tc.in, d, err, tc.want)
		}
		if a, err := Amount(tc.in).Decimal(); err != nil || !a.Equal(d) {
			t.Errorf("Amount(%q).Decimal() = %v, %v", tc.in, a, err)
		}
	}
	// Exactness: 0.1 + 0.2 is 0.3, as money must be.
	a, _ := ParseAmount("0.1")
	b, _ := ParseAmount("0.2")
	if s := a.Add(b).String(); s != "0.3" {
		t.Errorf("0.1 + 0.2 = %s", s)
	}
}

func TestParseDates(t *testing.T) {
	d := func(y int, m time.Month, day, h, min int) time.Time {
		return time.Date(y, m, day, h, min, 0, 0, time.UTC)
	}
	for _, tc := range []struct {
		format, value string
		start, end    time.Time
		tod           time.Duration
		ok            bool
	}{
		{"D8", "20240115", d(2024, 1, 15, 0, 0), d(2024, 1, 15, 0, 0), 0, true},
		{"D8", "20240229", d(2024, 2, 29, 0, 0), d(2024, 2, 29, 0, 0), 0, true},
		{"D8", "20230229", time.Time{}, time.Time{}, 0, false},
		{"D8", "20000229", d(2000, 2, 29, 0, 0), d(2000, 2, 29, 0, 0), 0, true},
		{"D8", "19000229", time.Time{}, time.Time{}, 0, false},
		{"D8", "20241301", time.Time{}, time.Time{}, 0, false},
		{"D8", "20240431", time.Time{}, time.Time{}, 0, false},
		{"D8", "2024011", time.Time{}, time.Time{}, 0, false},
		{"D8", "2024O115", time.Time{}, time.Time{}, 0, false},
		{"RD8", "20240101-20240105", d(2024, 1, 1, 0, 0), d(2024, 1, 5, 0, 0), 0, true},
		{"RD8", "20240105-20240101", time.Time{}, time.Time{}, 0, false},
		{"RD8", "20240101", time.Time{}, time.Time{}, 0, false},
		{"RD8", "20240101/20240105", time.Time{}, time.Time{}, 0, false},
		{"DT", "202401010830", d(2024, 1, 1, 8, 30), d(2024, 1, 1, 8, 30), 0, true},
		{"DT", "202401012430", time.Time{}, time.Time{}, 0, false},
		{"RDT", "202401010830-202401021015", d(2024, 1, 1, 8, 30), d(2024, 1, 2, 10, 15), 0, true},
		{"TM", "1130", time.Time{}, time.Time{}, 11*time.Hour + 30*time.Minute, true},
		{"TM", "113045", time.Time{}, time.Time{}, 11*time.Hour + 30*time.Minute + 45*time.Second, true},
		{"TM", "11304512", time.Time{}, time.Time{}, 11*time.Hour + 30*time.Minute + 45*time.Second + 120*time.Millisecond, true},
		{"TM", "2400", time.Time{}, time.Time{}, 0, false},
		{"TM", "113", time.Time{}, time.Time{}, 0, false},
		{"D6", "240115", time.Time{}, time.Time{}, 0, false},
	} {
		p, err := ParsePeriod(tc.format, tc.value)
		if !tc.ok {
			if err == nil || !errors.Is(err, ErrInvalidValue) {
				t.Errorf("ParsePeriod(%s, %s) = %+v, %v; want ErrInvalidValue", tc.format, tc.value, p, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePeriod(%s, %s): %v", tc.format, tc.value, err)
			continue
		}
		if !p.Start.Equal(tc.start) || !p.End.Equal(tc.end) || p.TimeOfDay != tc.tod {
			t.Errorf("ParsePeriod(%s, %s) = %+v", tc.format, tc.value, p)
		}
		if p.IsTime != (tc.format == "TM") || p.HasTime != (tc.format == "DT" || tc.format == "RDT") {
			t.Errorf("ParsePeriod(%s, %s) flags = %+v", tc.format, tc.value, p)
		}
		if p.IsRange() != !tc.start.Equal(tc.end) {
			t.Errorf("ParsePeriod(%s, %s).IsRange() = %v", tc.format, tc.value, p.IsRange())
		}
	}
	if _, err := (DateTimePeriod{Qualifier: "472", Format: "D8", Value: "20240110"}).Period(); err != nil {
		t.Errorf("DateTimePeriod.Period: %v", err)
	}
}

func TestValueErrorsHoldNoValue(t *testing.T) {
	for _, f := range []func() error{
		func() error { _, err := ParseAmount("ZZCANARYZZ"); return err },
		func() error { _, err := ParseDate("ZZCANARYZZ"); return err },
		func() error { _, _, err := ParseDateRange("ZZCANARYZZ"); return err },
		func() error { _, err := ParseDateTime("ZZCANARYZZ"); return err },
		func() error { _, err := ParseTime("ZZCANARYZZ"); return err },
		func() error { _, err := ParsePeriod("ZZCANARYZZ", "ZZCANARYZZ"); return err },
	} {
		err := f()
		if err == nil || decContains(err.Error(), canary) {
			t.Errorf("error %v: want an error without the value", err)
		}
	}
}

func decContains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
