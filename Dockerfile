# Image for the migrate and service containers of docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir .
ENV PYTHONUNBUFFERED=1
CMD ["mangalm", "--help"]
