-- AlterTable
ALTER TABLE "OAuthClient" ADD COLUMN     "clientUri" TEXT,
ADD COLUMN     "registeredFrom" TEXT,
ADD COLUMN     "registration" TEXT NOT NULL DEFAULT 'console',
ADD COLUMN     "registrationTokenHash" TEXT,
ALTER COLUMN "ownerId" DROP NOT NULL;

-- CreateIndex
CREATE INDEX "OAuthClient_registration_createdAt_idx" ON "OAuthClient"("registration", "createdAt");

