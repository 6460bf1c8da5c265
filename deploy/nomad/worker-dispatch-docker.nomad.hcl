# Barrage worker as a parameterized batch job, run by the Docker driver.
# `coordinator start --launch nomad --nomad-job barrage-worker` dispatches
# it once per worker with the meta keys run and slots, and dispatches a
# new one when a worker ends before the run does. See README.md here.

variable "image" {
  type        = string
  description = "worker image, built from deploy/docker/worker.Dockerfile"
  default     = "barrage-worker:latest"
}

job "barrage-worker" {
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
      driver = "docker"

      config {
        image = var.image
        args  = ["--run", "${NOMAD_META_run}", "--slots", "${NOMAD_META_slots}"]

        # One open file per connection to the target.
        ulimit {
          nofile = "65536:65536"
        }
      }

      # NATS_URL, credentials included, from the Nomad variable
      # nomad/jobs/barrage-worker, which only this job can read.
      template {
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/barrage-worker" }}NATS_URL={{ .nats_url }}{{ end }}
        EOT
        destination = "secrets/nats.env"
        env         = true
      }

      resources {
        cpu    = 1000
        memory = 256
      }
    }
  }
}
