-- AlterTable
ALTER TABLE "OAuthClient" ADD COLUMN     "metadataExpiresAt" TIMESTAMP(3),
ADD COLUMN     "metadataFetchedAt" TIMESTAMP(3);

