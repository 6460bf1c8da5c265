# A fixed fleet of Barrage workers, run by the exec driver from a binary
# installed on every client. Each worker joins the first run announced on
# NATS, exits when it ends, and Nomad starts it again for the next run.
# See README.md here.

variable "worker_path" {
  type        = string
  description = "path of the worker binary on the clients (CGO_ENABLED=0 go build ./cmd/worker)"
  default     = "/usr/local/bin/barrage-worker"
}

variable "nats_url" {
  type        = string
  description = "NATS URL without credentials, such as nats://nats.service.consul:4222"
}

variable "workers" {
  type        = number
  description = "number of workers"
  default     = 3
}

job "barrage-fleet-exec" {
  type        = "service"
  datacenters = ["*"]

  group "worker" {
    count = var.workers

    # A worker exits after each run; Nomad starts it again after a pause.
    restart {
      attempts = 10
      interval = "5m"
      delay    = "2s"
      mode     = "delay"
    }

    task "worker" {
      driver = "exec"

      config {
        command = var.worker_path
      }

      # The worker reads NATS_URL. The value is part of the job's
      # specification, which anyone who may read the job sees; for a
      # server with credentials, use a template that reads a Nomad
      # variable, as the Docker jobs do.
      env {
        NATS_URL = var.nats_url
      }

      resources {
        cpu    = 1000
        memory = 256
      }
    }
  }
}
