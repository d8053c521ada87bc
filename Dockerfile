# Worker image: compile TypeScript in a build stage, run plain JavaScript as an unprivileged user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/lib ./lib
COPY bin ./bin
# The audit file's directory (a volume in docker-compose.yml) belongs to the unprivileged user.
RUN mkdir -p /var/lib/duo-sync/audit && chown node:node /var/lib/duo-sync/audit
USER node
STOPSIGNAL SIGTERM
CMD ["node", "lib/worker.js"]
