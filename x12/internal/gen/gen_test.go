package gen

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestWrite837PDeterministic(t *testing.T) {
	a := Generate837P(50, 7)
	b := Generate837P(50, 7)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different output")
	}
	if c := Generate837P(50, 8); bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same output")
	}
	if n := bytes.Count(a, []byte("\nCLM*")); n != 50 {
		t.Fatalf("claims = %d, want 50", n)
	}
}

func TestNPICheckDigit(t *testing.T) {
	g := &generator{rng: rand.New(rand.NewPCG(1, 2))}
	for i := 0; i < 100; i++ {
		n := g.npi()
		if !validNPI(n) {
			t.Fatalf("npi %s has a bad check digit", n)
		}
	}
	// A published example NPI: 1234567893.
	if !validNPI("1234567893") || validNPI("1234567890") {
		t.Fatal("validNPI is wrong")
	}
}

// validNPI checks the Luhn digit of an NPI independently of npi().
func validNPI(s string) bool {
	full := "80840" + s
	sum := 0
	for i := len(full) - 1; i >= 0; i-- {
		v := int(full[i] - '0')
		if (len(full)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}
