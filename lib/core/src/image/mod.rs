//! Rendering a job's image: a Dockerfile, an idempotent shell script for a box that already
//! is the base image, or the Modal image chain as JSON. Output is byte-stable.
