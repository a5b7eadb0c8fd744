// Package cloudenv starts a cloud function: the suite's configuration from
// the environment and the store LAYERSCAN_STORE names, with the queue as
// the fan-out. It is the one place that links the cloud stores' SDKs into
// a binary (through storeurl); the CLI and `layerscan serve` use a local
// folder and stay without them.
package cloudenv

import (
	"fmt"
	"log"
	"os"

	"github.com/layerscan/layerscan/shared/platform"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registries/acr"
	"github.com/layerscan/layerscan/shared/registries/ecr"
	"github.com/layerscan/layerscan/shared/storeurl"
	"github.com/layerscan/layerscan/shared/suite"
)

// MustEnv is the start of every function. It returns the suite's Env and
// the credentials the platform adapter must hand each request's role
// credentials to (the OSS store signs with them). A function that cannot
// start says why and exits.
func MustEnv(function string) (*suite.Env, platform.Credentials) {
	logger := log.New(os.Stderr, function+" ", log.LstdFlags|log.LUTC)
	c, err := suite.FromEnv()
	if err == nil && c.Store == "" {
		err = fmt.Errorf("LAYERSCAN_STORE is not set (file:///path, oss://bucket/prefix or s3://bucket/prefix)")
	}
	if err != nil {
		logger.Fatal(err)
	}
	creds := storeurl.EnvCredentials()
	st, err := storeurl.Open(c.Store, creds)
	if err != nil {
		logger.Fatal(err)
	}
	env := suite.NewEnv(c, st, nil, logger)
	WithClouds(env, func() (registries.AccessKey, bool) {
		k := creds.GetCredentials()
		return registries.AccessKey{ID: k.GetAccessKeyID(), Secret: k.GetAccessKeySecret(), Token: k.GetSecurityToken()}, k.GetAccessKeyID() != ""
	})
	return env, creds
}

// WithClouds gives an Env the cloud registry kinds: ACR EE and ECR logins
// and listings, through its network guard. role returns the function
// role's Alibaba Cloud credentials (FC hands them over with every request);
// ECR without an AccessKey uses the AWS SDK's default chain (the Lambda
// role).
func WithClouds(env *suite.Env, role func() (registries.AccessKey, bool)) {
	rt := env.Guard.Transport()
	ee := acr.Cloud{Transport: rt, Key: env.Logins.CloudKey}
	aws := ecr.Cloud{Transport: rt, Key: env.Logins.CloudKey}
	env.Logins.Cloud = map[registries.Kind]registries.CloudLogin{registries.ACREE: ee, registries.ECR: aws}
	env.Logins.Roles = map[registries.Kind]func() (registries.AccessKey, bool){registries.ACREE: role}
	env.Listers[registries.ACREE], env.Listers[registries.ECR] = ee, aws
}
