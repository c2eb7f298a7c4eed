package fhirmap

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/fhirsync/fhirsync/resource"
	"github.com/fhirsync/fhirsync/terminology"
)

// benchProviderCSV returns a provider table of n individual rows (with the
// golden cases' column names): 50 practice locations, two networks per row,
// an affiliation, two taxonomies, languages and hours.
func benchProviderCSV(b *testing.B, n int) []byte {
	b.Helper()
	var buf bytes.Buffer
	buf.WriteString("ProvNPI,EntityCd,LName,FName,Degrees,Sex,Langs,PrimaryTaxonomy,AltTaxonomies,Phone,SiteName,SiteAddr1,SiteCity,SiteSt,SiteZip,SitePhone,OfficeHours,NewPatients,NetIDs,NetNames,GroupNPI,GroupNm,EffDt,TermDt\n")
	for i := 0; i < n; i++ {
		first9 := fmt.Sprintf("1%08d", i)
		cd, err := terminology.NPICheckDigit(first9)
		if err != nil {
			b.Fatal(err)
		}
		end := ""
		if i%10 == 9 {
			end = "2023-12-31"
		}
		fmt.Fprintf(&buf, "%s%c,1,Last%d,First%d,MD,F,en;es,207Q00000X,207QA0505X,217-555-%04d,Clinic %d,%d Main St,Springfield,IL,62701,217-555-0100,Mon-Fri 08:00-17:00; Sat 09:00-12:00,Y,NET-GOLD;NET-SILVER,Gold PPO;Silver HMO,1555000011,Riverside Family Medicine,2023-01-01,%s\n",
			first9, cd, i, i, i%10000, i%50, i%50+1, end)
	}
	return buf.Bytes()
}

// BenchmarkProviderRows reads and maps a 1,000-row provider table: "read"
// only reads the rows, "map" also maps them to Plan-Net resources, "marshal"
// also writes every resource as FHIR JSON. rows/s counts table rows.
func BenchmarkProviderRows(b *testing.B) {
	const n = 1000
	data := benchProviderCSV(b, n)
	p := providerTestMapper(b, "bench.csv")
	ctx := context.Background()
	opts := &ProviderCSVOptions{Columns: &providerTestColumns, AllowMissingColumns: true}
	for _, mode := range []string{"read", "map", "marshal"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			rows, resources := 0, 0
			for b.Loop() {
				for row, err := range ReadProviderCSV(bytes.NewReader(data), opts) {
					if err != nil {
						b.Fatal(err)
					}
					rows++
					if mode == "read" {
						continue
					}
					res, err := p.MapRow(ctx, row)
					if err != nil {
						b.Fatal(err)
					}
					resources += len(res.Resources)
					if mode == "marshal" {
						for _, r := range res.Resources {
							if _, err := resource.Marshal(r); err != nil {
								b.Fatal(err)
							}
						}
					}
				}
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			if resources > 0 {
				b.ReportMetric(float64(resources)/float64(rows), "resources/row")
			}
		})
	}
}
