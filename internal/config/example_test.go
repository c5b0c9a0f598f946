package config_test

import (
	"errors"
	"fmt"

	"github.com/bakery-deploy/bakery/internal/config"
)

// ExampleParse shows how a caller prints every problem in a file.
func ExampleParse() {
	src := `services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: ["./deploy.sh", "staging"]
      - name: production
        bake: 1x
        deploy:
          command: ["./deploy.sh", "production"]
`
	_, err := config.Parse("bakery.yaml", []byte(src))
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// bakery.yaml:8:15: services[0].environments[1].bake: invalid duration "1x"; write a Go duration such as 30s, 10m or 1h
}
