/** Who asked, for audit lines: the token's id (never the token) and the route or command. */
export interface Actor {
  tokenId: string;
  route: string;
}
