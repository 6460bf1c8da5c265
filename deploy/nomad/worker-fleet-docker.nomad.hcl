# A fixed fleet of Barrage workers, run by the Docker driver. Each worker
# joins the first run announced on NATS, exits when it ends, and Nomad
# starts it again for the next run. Start runs with `coordinator start
# --nats URL --local-workers 0`, without --launch. See README.md here.

variable "image" {
  type        = string
  description = "worker image, built from deploy/docker/worker.Dockerfile"
  default     = "barrage-worker:latest"
}

variable "workers" {
  type        = number
  description = "number of workers"
  default     = 3
}

job "barrage-fleet" {
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
      driver = "docker"

      config {
        image = var.image

        # One open file per connection to the target.
        ulimit {
          nofile = "65536:65536"
        }
      }

      # NATS_URL, credentials included, from the Nomad variable
      # nomad/jobs/barrage-fleet, which only this job can read.
      template {
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/barrage-fleet" }}NATS_URL={{ .nats_url }}{{ end }}
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
