module github.com/ocxhq/ocx/infra/config

go 1.26
