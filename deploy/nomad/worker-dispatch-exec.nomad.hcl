# Barrage worker as a parameterized batch job, run by the exec driver from
# a binary installed on every client. `coordinator start --launch nomad
# --nomad-job barrage-worker-exec` dispatches it once per worker with the
# meta keys run and slots. See README.md here.

variable "worker_path" {
  type        = string
  description = "path of the worker binary on the clients (CGO_ENABLED=0 go build ./cmd/worker)"
  default     = "/usr/local/bin/barrage-worker"
}

variable "nats_url" {
  type        = string
  description = "NATS URL without credentials, such as nats://nats.service.consul:4222"
}

job "barrage-worker-exec" {
  type        = "batch"
  datacenters = ["*"]

  parameterized {
    meta_required = ["run", "slots"]
  }

  group "worker" {
    # The coordinator replaces workers that end early, so Nomad neither
    # restarts nor reschedules them: either would start a second worker.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "worker" {
      driver = "exec"

      config {
        command = var.worker_path
        args    = ["--run", "${NOMAD_META_run}", "--slots", "${NOMAD_META_slots}"]
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
