-- Access tokens are no longer stored one by one: they are self-contained JWTs,
-- revoked by exception through the change feed below. Revocations that already
-- happened must survive the move, or tokens revoked before the upgrade would
-- work again until they expire (access tokens live at most a day).

-- CreateTable
CREATE TABLE "ChangeEvent" (
    "seq" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "kind" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "clientId" TEXT,
    "scopes" TEXT[],
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ChangeEvent_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE INDEX "ChangeEvent_expiresAt_idx" ON "ChangeEvent"("expiresAt");

-- Carry over: single access tokens revoked and not yet expired, and grants
-- revoked within the longest access-token lifetime (clients are checked by
-- their own revokedAt).
INSERT INTO "ChangeEvent" ("kind", "subject", "scopes", "expiresAt")
SELECT 'token.revoked', "jti", '{}', "expiresAt" FROM "AccessToken"
WHERE "revokedAt" IS NOT NULL AND "expiresAt" > CURRENT_TIMESTAMP;

INSERT INTO "ChangeEvent" ("kind", "subject", "scopes", "expiresAt")
SELECT 'grant.revoked', "id", '{}', "revokedAt" + interval '25 hours' FROM "Grant"
WHERE "revokedAt" > CURRENT_TIMESTAMP - interval '25 hours';

-- DropForeignKey
ALTER TABLE "AccessToken" DROP CONSTRAINT "AccessToken_clientId_fkey";

-- DropForeignKey
ALTER TABLE "AccessToken" DROP CONSTRAINT "AccessToken_grantId_fkey";

-- AlterTable
ALTER TABLE "AuthorizationCode" ADD COLUMN     "accessTokenExpiresAt" TIMESTAMP(3),
ADD COLUMN     "accessTokenJti" TEXT;

-- AlterTable
ALTER TABLE "RefreshToken" ADD COLUMN     "accessTokenExpiresAt" TIMESTAMP(3),
ADD COLUMN     "accessTokenJti" TEXT;

-- DropTable
DROP TABLE "AccessToken";

-- CreateIndex
CREATE INDEX "RefreshToken_codeId_idx" ON "RefreshToken"("codeId");
