# One image for all three layers; docker-compose.yml picks the layer with ROLES=speed|batch|serving.
FROM node:20-bookworm

WORKDIR /app
RUN chown node:node /app
USER node

# Dependencies first, so that code changes do not re-run npm ci.
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci && npm cache clean --force

# Only the sources the services run (copying per directory keeps the host's node_modules,
# .infra/ and data/ out of the image without relying on a .dockerignore).
COPY --chown=node:node tsconfig.json ./
COPY --chown=node:node shared ./shared
COPY --chown=node:node sql ./sql
COPY --chown=node:node speed-layer ./speed-layer
COPY --chown=node:node batch-layer ./batch-layer
COPY --chown=node:node serving-layer ./serving-layer
COPY --chown=node:node collector ./collector
COPY --chown=node:node cli ./cli

ENV PORT=3000
# What `npm start` sets: glibc keeps freed buffers otherwise (docs/speed-layer.md, Memory).
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=1048576
EXPOSE 3000
CMD ["npx", "tsx", "cli/start.ts"]
